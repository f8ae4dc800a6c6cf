#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine with Node 20: installs and starts what it
# needs, builds, lints, type-checks, runs the unit, integration and end-to-end tiers.
# Ends with jest's summary and a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
scripts/npm-install.sh
npm run build
npm run lint
npm run typecheck

mkdir -p .tmp
status=0
npx jest --ci --json --outputFile=.tmp/jest-results.json "$@" || status=$?
# shellcheck disable=SC2016 # the quoted text is JavaScript
node -e '
  const r = require("./.tmp/jest-results.json");
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' || true
exit "$status"
