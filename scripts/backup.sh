#!/bin/sh
# Back up an installed cmq-workers host: the service tree and configuration, and the database.
#
#   scripts/backup.sh [--target DIR] [--keep N] [--prefix P] [--config-dir D]
#
# Writes DIR/cmq-backup-<UTC timestamp>/ with
#   tree.tar.gz      PREFIX (as prefix/) and the config dir (as config/), logs excluded
#   db.dump          pg_dump -Fc of the database
#   MANIFEST.sha256  sha256sum of the two files above
# It is built in DIR/.cmq-backup-<timestamp>.partial and renamed into place only when every
# step succeeded, so a directory named cmq-backup-* is always complete (one run at a time per DIR;
# the next run removes what a killed one left). Then only the newest N
# complete backups are kept. Defaults: DIR=/var/backups/cmq-workers, N=7, and PREFIX/CONFIG_DIR
# from ${CMQ_DEFAULTS:-/etc/default/cmq-workers} or /opt/cmq-workers and /etc/cmq-workers.
# Database: the PG* environment when PGDATABASE is set, otherwise what
# `PREFIX/bin/cmq config pg-env --with-password --config-dir D` prints (worker.properties).
set -eu

die() { echo "backup.sh: $*" >&2; exit 1; }

PREFIX=/opt/cmq-workers
CONFIG_DIR=/etc/cmq-workers
CMQ_DEFAULTS=${CMQ_DEFAULTS:-/etc/default/cmq-workers}
# shellcheck source=/dev/null
if [ -r "$CMQ_DEFAULTS" ]; then . "$CMQ_DEFAULTS"; fi
TARGET=/var/backups/cmq-workers
KEEP=7

while [ $# -gt 0 ]; do
  case $1 in
    --target|--keep|--prefix|--config-dir) [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case $1 in
    --target) TARGET=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --config-dir) CONFIG_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case $KEEP in ''|*[!0-9]*|0) die "--keep must be a positive number: $KEEP" ;; esac
[ -d "$PREFIX" ] || die "no installed tree at $PREFIX (use --prefix)"
[ -d "$CONFIG_DIR" ] || die "no config dir at $CONFIG_DIR (use --config-dir)"

if [ -z "${PGDATABASE:-}" ]; then
  [ -x "$PREFIX/bin/cmq" ] || die "PGDATABASE is not set and $PREFIX/bin/cmq is missing"
  pgenv=$("$PREFIX/bin/cmq" config pg-env --with-password --config-dir "$CONFIG_DIR") \
    || die "'cmq config pg-env --with-password --config-dir $CONFIG_DIR' failed"
  eval "$pgenv"
  [ -n "${PGDATABASE:-}" ] || die "'cmq config pg-env' did not set PGDATABASE"
fi

mkdir -p "$TARGET" || die "cannot create $TARGET"
TARGET=$(cd "$TARGET" && pwd)
# One backup at a time per target: a lock on the directory itself (it goes with the process,
# however that ends). Holding it, any .partial directory is the leftover of a killed run: removed.
exec 9<"$TARGET" || die "cannot open $TARGET to lock it"
flock -n 9 || die "another backup.sh is writing to $TARGET (or $TARGET cannot be locked)"
for p in "$TARGET"/.cmq-backup-*.partial; do
  [ -d "$p" ] || continue
  rm -rf "$p" || die "cannot remove $p, left by a backup that did not finish"
  echo "backup.sh: removed $p, left by a backup that did not finish"
done
# Names sort by time, and a new one must sort after every existing backup (retention removes
# the oldest by name): two backups within one second wait for the next second.
# Only names of exactly that shape count (for ordering and for retention): a copy an operator
# renamed (cmq-backup-keep) is neither newer than every timestamp nor ever removed.
BACKUP_GLOB='cmq-backup-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z'
newest=$(find "$TARGET" -mindepth 1 -maxdepth 1 -type d -name "$BACKUP_GLOB" -exec basename {} \; | sort | tail -n 1)
tries=0
while :; do
  name=cmq-backup-$(date -u +%Y%m%dT%H%M%SZ)
  if [ -z "$newest" ] || { [ "$name" != "$newest" ] \
      && [ "$(printf '%s\n' "$newest" "$name" | sort | tail -n 1)" = "$name" ]; }; then
    break
  fi
  tries=$((tries + 1))
  [ "$tries" -le 2 ] || die "the newest backup $newest is not older than now: is the clock right?"
  sleep 1
done
stage=$TARGET/.$name.partial
final=$TARGET/$name
umask 077

trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$stage" || { trap - EXIT; die "cannot create $stage (another backup running?)"; }

# The two trees go in as prefix/ and config/ so restore can put them anywhere. The S flag keeps
# symlink targets (node_modules/@cmq/* -> ../../packages/...) untouched.
tar -cf "$stage/tree.tar" -C "$PREFIX" --transform 's,^\.,prefix,S' \
  --exclude='*.log' --exclude='*.log.*' --exclude='*.out' --exclude='*.out.*' . \
  || die "archiving $PREFIX failed"
tar -rf "$stage/tree.tar" -C "$CONFIG_DIR" --transform 's,^\.,config,S' \
  --exclude='*.log' --exclude='*.log.*' . \
  || die "archiving $CONFIG_DIR failed"
gzip -n "$stage/tree.tar" || die "compressing the tree archive failed"

pg_dump -Fc --file="$stage/db.dump" \
  || die "pg_dump of database '$PGDATABASE' on ${PGHOST:-local socket}:${PGPORT:-5432} failed"

(cd "$stage" && sha256sum tree.tar.gz db.dump >MANIFEST.sha256) || die "writing the manifest failed"
(cd "$stage" && sha256sum --quiet -c MANIFEST.sha256) || die "the manifest does not verify"
sync -f "$stage/db.dump" 2>/dev/null || true

mv "$stage" "$final" || die "cannot rename $stage to $final"
echo "backup.sh: wrote $final"

# The encryption keys of the database's secrets are in this backup only when km.keys_file is in
# the config dir. Elsewhere (kept apart on purpose, or by accident) they must be backed up on
# their own: say so at every run, or a restore on a new host could never decrypt a credential.
# (Properties syntax: key=value, key: value or key value. Compared after resolving links: a link
# in the config dir to a file elsewhere puts only the link in the archive.)
keys=$(sed -n 's/^[[:space:]]*km\.keys_file\([[:space:]]*[=:][[:space:]]*\|[[:space:]]\{1,\}\)//p' "$CONFIG_DIR/km-client.cfg" 2>/dev/null | tail -n 1)
real_keys=$(readlink -m -- "$keys" 2>/dev/null || echo "$keys")
real_config=$(readlink -m -- "$CONFIG_DIR" 2>/dev/null || echo "$CONFIG_DIR")
case $real_keys in
  ''|"$real_config"/*) ;;
  *) echo "backup.sh: warning: km.keys_file $keys is outside $CONFIG_DIR and not in this backup; back it up separately (without it the restored database's credentials and SSH keys cannot be decrypted)" >&2 ;;
esac

# Retention: complete backups only (hidden .partial directories never match).
count=0
for b in $(find "$TARGET" -mindepth 1 -maxdepth 1 -type d -name "$BACKUP_GLOB" -exec basename {} \; | sort -r); do
  [ -f "$TARGET/$b/MANIFEST.sha256" ] || continue
  count=$((count + 1))
  if [ "$count" -gt "$KEEP" ]; then
    rm -rf "${TARGET:?}/$b" || die "cannot remove old backup $TARGET/$b"
    echo "backup.sh: removed old backup $TARGET/$b"
  fi
done
