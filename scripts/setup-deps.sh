#!/usr/bin/env bash
# Installs (Debian packages) and starts what cmq-workers needs on this machine: RabbitMQ,
# PostgreSQL, Redis, OpenSSH server, the systemd tools and a C++ toolchain for the native
# addon. Does nothing for what is already there and running. Safe to run again.
set -euo pipefail

log() { printf 'setup-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; exit 1; fi
}

install_missing() {
  local missing=() pair cmd pkg
  for pair in rabbitmq-server:rabbitmq-server pg_ctlcluster:postgresql redis-server:redis-server \
    sshd:openssh-server /usr/sbin/sshd:openssh-server systemd-analyze:systemd \
    start-stop-daemon:dpkg make:make g++:g++ python3:python3 tmux:tmux logrotate:logrotate \
    shellcheck:shellcheck psql:postgresql-client promtool:prometheus \
    ipmitool:ipmitool ipmi_sim:openipmi sdrcomp:openipmi /usr/bin/chromium:chromium \
    openssl:openssl ip:iproute2; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
  log "nothing listens on 127.0.0.1:$1 after $2 s"; return 1
}

start_postgres() {
  local version
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)
  if ! port_open 5432; then
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port 5432 30
  fi
  # The embedded defaults connect as postgres over 127.0.0.1 without a password: a fresh
  # Debian cluster asks for one, so trust loopback (development and test machines only).
  if ! psql -h 127.0.0.1 -U postgres -w -Atc 'SELECT 1' postgres >/dev/null 2>&1; then
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    log "trusting loopback connections in $hba"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    sleep 1
  fi
}

start_redis() {
  port_open 6379 && return 0
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/cmq-dev.log
  wait_port 6379 15
}

start_rabbitmq() {
  port_open 5672 && return 0
  log "starting RabbitMQ (about 10 s)"
  as_root rabbitmq-server -detached
  as_root rabbitmqctl await_startup --timeout 120 >/dev/null
  wait_port 5672 60
}

install_missing
start_postgres
start_redis
start_rabbitmq
log "RabbitMQ, PostgreSQL and Redis are up on 127.0.0.1"
