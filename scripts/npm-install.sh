#!/usr/bin/env bash
# Installs the npm dependencies from package-lock.json. `npm ci` first; the registry this
# project's machines reach serves only the Linux builds of some optional platform packages
# (@swc/core-*, @unrs/resolver-binding-*), so the lock file cannot list the others and npm 11's
# `npm ci` refuses it as "out of sync": then `npm install`, which follows the same lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
# The native addon for systemd notification must have been built.
node -e "require('unix-dgram')"
