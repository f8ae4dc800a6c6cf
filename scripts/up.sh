#!/usr/bin/env bash
# Brings the whole system up on this machine with the embedded defaults: installs and starts
# RabbitMQ, PostgreSQL and Redis if needed, builds, installs under /opt/cmq-workers (config in
# /etc/cmq-workers, logs in /var/log/cmq-workers), migrates the database, starts the publisher,
# the subscriber and the pinger with the init script, waits for them, and runs a first action
# end to end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
scripts/npm-install.sh
npm run build
scripts/install.sh
CMQ=/opt/cmq-workers/bin/cmq
"$CMQ" config check >/dev/null
"$CMQ" migrate --create-database
/etc/init.d/cmq-workers restart
/etc/init.d/cmq-workers status

# Wait until every process says it is running (its log line "state running").
for log in publisher-main subscriber-default pinger-main; do
  for _ in $(seq 1 60); do
    grep -q '"msg":"state running"' "/var/log/cmq-workers/$log.log" 2>/dev/null && break
    sleep 1
  done
  grep -q '"msg":"state running"' "/var/log/cmq-workers/$log.log" || { echo "up.sh: $log is not running; see /var/log/cmq-workers/$log.log" >&2; exit 1; }
  echo "up.sh: $log running ($(grep -c '"msg":"heartbeat"' "/var/log/cmq-workers/$log.log") heartbeats so far)"
done

# Its main job, end to end: an action submitted, relayed, run and committed.
"$CMQ" tenants list | grep -q '^demo ' || "$CMQ" tenants add demo --name "Demo tenant"
"$CMQ" call noop --tenant demo --args '{"sleep_ms": 100}' --wait --timeout 60
"$CMQ" call ping --tenant demo --wait --timeout 60
echo "up.sh: cmq-workers is up. Try: $CMQ status, $CMQ events, $CMQ check (OK once the pinger's first canaries are back)"
echo "up.sh: logs in /var/log/cmq-workers/; stop with /etc/init.d/cmq-workers stop"
