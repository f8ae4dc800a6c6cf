#!/usr/bin/env bash
# Brings the whole system up on this machine with the embedded defaults: installs and starts
# RabbitMQ, PostgreSQL and Redis if needed, builds, installs under /opt/cmq-workers (config in
# /etc/cmq-workers, logs in /var/log/cmq-workers), migrates the database, starts the publisher,
# the subscriber and the pinger with the init script, waits for them, runs a first action end
# to end, then the cloud part on the local driver: a demo account, one server launched, reached
# over SSH and synced.
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
# (Output captured first: under pipefail, grep -q leaving early could fail the producer.)
tenants=$("$CMQ" tenants list)
grep -q '^demo ' <<<"$tenants" || "$CMQ" tenants add demo --name "Demo tenant"
"$CMQ" call noop --tenant demo --args '{"sleep_ms": 100}' --wait --timeout 60
"$CMQ" call ping --tenant demo --wait --timeout 60
# The cloud part of the main job, on the embedded local driver: secrets at rest need a key, the
# demo tenant gets a local account (its SSH key pair generated), one server is launched (a real
# sshd on its own loopback address), reached over SSH with its pinned host key, and synced.
ETC=/etc/cmq-workers
CMQ_USER=${CMQ_USER:-cmq}
wait_for_noop() {
  for _ in $(seq 1 60); do "$CMQ" call noop --tenant demo --wait --timeout 5 >/dev/null 2>&1 && return 0; sleep 1; done
  echo "up.sh: the services did not come back after the restart; see /var/log/cmq-workers/" >&2
  exit 1
}
# The effective configuration (file and environment) says whether a keys file is set.
effective=$("$CMQ" config check)
if ! grep -Eq '^km\.keys_file=.+' <<<"$effective"; then
  # A keys file left by an interrupted run is used, not appended to (a second k1 would be refused).
  [ -s "$ETC/km.keys" ] || "$CMQ" keys generate --out "$ETC/km.keys" --id k1
  chown "$CMQ_USER:$CMQ_USER" "$ETC/km.keys" && chmod 0600 "$ETC/km.keys"
  key_id=$(head -n 1 "$ETC/km.keys" | cut -d= -f1)
  printf '\n# Added by scripts/up.sh: the key that encrypts cloud credentials and SSH keys at rest.\nkm.keys_file=%s\nkm.active_key_id=%s\n' "$ETC/km.keys" "$key_id" >>"$ETC/km-client.cfg"
  "$CMQ" config check >/dev/null
  echo "up.sh: secrets at rest are encrypted with key $key_id of $ETC/km.keys (km-client.cfg); restarting to read it"
  /etc/init.d/cmq-workers restart
  wait_for_noop
fi
# json_field FIELD [KEY VALUE]: FIELD of the first JSON line (whose KEY is VALUE) on stdin.
json_field() { node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{for(const l of s.split("\n").filter(Boolean)){const o=JSON.parse(l);if(!process.argv[2]||o[process.argv[2]]===process.argv[3]){console.log(o[process.argv[1]]);break}}})' "$@"; }
account=$("$CMQ" accounts list --tenant demo --json | json_field id provider local)
if [ -z "$account" ]; then
  "$CMQ" accounts add --tenant demo --provider local --region local >/dev/null
  account=$("$CMQ" accounts list --tenant demo --json | json_field id provider local)
fi
echo "up.sh: tenant demo, local account $account"
sync_servers() { "$CMQ" call sync.servers --tenant demo --args "{\"account\":\"$account\"}" --wait --timeout 60 >/dev/null; }
# A second run reuses the demo server: running as is, stopped (the host rebooted) rebooted;
# one that is gone or failed is replaced by a new launch.
sync_servers
demo=$("$CMQ" resources --tenant demo --kind server --json | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{for(const l of s.split("\n").filter(Boolean)){const r=JSON.parse(l);if(r.state.name==="demo-1"&&["running","stopped"].includes(r.state.state)){console.log(r.resource_id+" "+r.state.state);break}}})')
server=${demo%% *}
if [ -n "$demo" ] && [ "${demo#* }" = stopped ]; then
  echo "up.sh: server $server is stopped; rebooting it"
  "$CMQ" call server.reboot --tenant demo --args "{\"account\":\"$account\",\"server\":\"$server\"}" --wait --timeout 60 >/dev/null
elif [ -z "$demo" ]; then
  launch=$("$CMQ" call server.launch --tenant demo --args "{\"account\":\"$account\",\"name\":\"demo-1\"}" --idempotency-key "up-demo-$(date +%s)" --wait --timeout 120) \
    || { printf '%s\n' "$launch" >&2; echo "up.sh: the launch did not succeed; see /var/log/cmq-workers/tenants/demo.log" >&2; exit 1; }
  server=$(printf '%s\n' "$launch" | sed -n 3p | json_field server)
  echo "up.sh: server $server launched; waiting for it to run and be registered as a guest"
fi
registered() { "$CMQ" guests list --tenant demo --json | grep -c "\"id\":\"$server\"" >/dev/null; }
for _ in $(seq 1 60); do registered && break; sleep 2; done
registered || { echo "up.sh: server $server never came up; see cmq actions --tenant demo and /var/log/cmq-workers/tenants/demo.log" >&2; exit 1; }
"$CMQ" call guest.exec --tenant demo --args "{\"guest\":\"$server\",\"command\":\"echo hello from \$(id -un) on $server; tail -n 2 \$HOME/log/app.log\"}" --wait --timeout 60
sync_servers
"$CMQ" resources --tenant demo --kind server
echo "up.sh: cmq-workers is up. Try: $CMQ status, $CMQ events, $CMQ check (OK once the pinger's first canaries are back)"
echo "up.sh: logs in /var/log/cmq-workers/; stop with /etc/init.d/cmq-workers stop"
