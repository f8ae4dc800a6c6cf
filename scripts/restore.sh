#!/bin/sh
# Restore a backup made by scripts/backup.sh.
#
#   scripts/restore.sh BACKUP_DIR [--no-tree] [--no-db] [--prefix P] [--config-dir D]
#
# Stop the services first (renaming the database fails while they are connected). Steps: verify
# MANIFEST.sha256; set the live database NAME aside as NAME_pre_YYYYMMDD_HHMMSS (kept: drop it once
# the restore is checked); `pg_restore --create` NAME as dumped, through the maintenance database
# (${PG_MAINTENANCE_DB:-postgres}); if that fails, drop what it made and rename the old one back;
# then, unless --no-tree, replace PREFIX and the config dir with the archived ones.
# PREFIX, CONFIG_DIR and the database connection are found as in backup.sh. NAME is the name the
# database had when it was dumped (at most 43 bytes).
set -eu

die() { echo "restore.sh: $*" >&2; exit 1; }

PREFIX=/opt/cmq-workers
CONFIG_DIR=/etc/cmq-workers
CMQ_DEFAULTS=${CMQ_DEFAULTS:-/etc/default/cmq-workers}
# shellcheck source=/dev/null
if [ -r "$CMQ_DEFAULTS" ]; then . "$CMQ_DEFAULTS"; fi
BACKUP=
trap 'exit 130' INT
trap 'exit 143' TERM
TREE=1
DB=1

while [ $# -gt 0 ]; do
  case $1 in
    --prefix|--config-dir) [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case $1 in
    --no-tree) TREE=0; shift ;;
    --no-db) DB=0; shift ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --config-dir) CONFIG_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) die "unknown argument: $1 (see --help)" ;;
    *) [ -z "$BACKUP" ] || die "only one BACKUP_DIR, got '$BACKUP' and '$1'"; BACKUP=$1; shift ;;
  esac
done
[ -n "$BACKUP" ] || die "usage: restore.sh BACKUP_DIR [--no-tree] [--no-db] [--prefix P] [--config-dir D]"
case $BACKUP in *.partial|*.partial/) die "$BACKUP is an incomplete backup" ;; esac
[ -f "$BACKUP/MANIFEST.sha256" ] || die "$BACKUP has no MANIFEST.sha256: not a complete backup"
BACKUP=$(cd "$BACKUP" && pwd)

for f in tree.tar.gz db.dump; do
  grep -q " \*\{0,1\}$f\$" "$BACKUP/MANIFEST.sha256" || die "MANIFEST.sha256 does not list $f"
done
(cd "$BACKUP" && sha256sum --quiet -c MANIFEST.sha256) || die "checksums do not match: $BACKUP is damaged"

if [ "$DB" = 1 ]; then
  if [ -z "${PGDATABASE:-}" ]; then
    [ -x "$PREFIX/bin/cmq" ] || die "PGDATABASE is not set and $PREFIX/bin/cmq is missing"
    pgenv=$("$PREFIX/bin/cmq" config pg-env --with-password --config-dir "$CONFIG_DIR") \
      || die "'cmq config pg-env --with-password --config-dir $CONFIG_DIR' failed"
    eval "$pgenv"
  fi
  name=$(pg_restore --list "$BACKUP/db.dump" | sed -n 's/^;[[:space:]]*dbname: //p' | head -n 1)
  [ -n "$name" ] || die "cannot read the database name from $BACKUP/db.dump"
  if [ -n "${PGDATABASE:-}" ] && [ "$PGDATABASE" != "$name" ]; then
    echo "restore.sh: warning: the dump is of database $name; the configuration names $PGDATABASE" >&2
  fi
  old="${name}_pre_$(date -u +%Y%m%d_%H%M%S)"
  # PostgreSQL cuts names to 63 bytes: the copy set aside must keep a name of its own.
  [ "$(printf %s "$old" | wc -c)" -le 63 ] \
    || die "the database name $name is too long to set a copy aside beside it (at most 43 bytes)"
  # sql: runs the statements on stdin in the maintenance database, names as psql variables.
  sql() {
    psql -X -q -v ON_ERROR_STOP=1 -d "${PG_MAINTENANCE_DB:-postgres}" -v name="$name" -v old="$old" "$@"
  }
  exists=$(echo "SELECT 1 FROM pg_database WHERE datname = :'name'" | sql -At) \
    || die "cannot look for the database $name"
  # The live database is set aside (renamed, not dropped) and comes back if the restore fails;
  # pg_restore --create then makes the database as it was dumped: owner, encoding, locale,
  # settings and grants included.
  if [ "$exists" = 1 ]; then
    echo 'ALTER DATABASE :"name" RENAME TO :"old"' | sql >/dev/null \
      || die "cannot set $name aside (are the services stopped? nothing may be connected to the database); it was not touched"
    echo "restore.sh: set $name aside as $old"
  fi
  if ! pg_restore --create --exit-on-error --dbname="${PG_MAINTENANCE_DB:-postgres}" "$BACKUP/db.dump"; then
    # Only a half-restored copy can have the name now.
    echo 'DROP DATABASE IF EXISTS :"name"' | sql >/dev/null || true
    if [ "$exists" = 1 ]; then
      echo 'ALTER DATABASE :"old" RENAME TO :"name"' | sql >/dev/null \
        || die "pg_restore of $BACKUP/db.dump failed, and $old could not be renamed back to $name: do it by hand"
      die "pg_restore of $BACKUP/db.dump failed; $name is back as it was"
    fi
    die "pg_restore of $BACKUP/db.dump failed"
  fi
  echo "restore.sh: restored the database $name from $BACKUP/db.dump"
  if [ "$exists" = 1 ]; then
    echo "restore.sh: the database as it was is kept as $old: drop it once the restore is checked (DROP DATABASE \"$old\")"
  fi
fi

[ "$TREE" = 1 ] || exit 0

# replace_dir ARCHIVED DEST: move the extracted directory into place; the old one goes away
# only after the new one is there.
replace_dir() {
  if [ -e "$2" ]; then
    mv "$2" "$2.pre-restore.$$" || die "cannot move $2 aside"
  fi
  if ! mv "$1" "$2"; then
    [ ! -e "$2.pre-restore.$$" ] || mv "$2.pre-restore.$$" "$2"
    die "cannot move the restored tree to $2"
  fi
  rm -rf "$2.pre-restore.$$"
  echo "restore.sh: restored $2"
}

# Extract next to each destination so the final step is a rename on one filesystem.
for pair in "prefix:$PREFIX" "config:$CONFIG_DIR"; do
  member=${pair%%:*}; dest=${pair#*:}
  mkdir -p "$(dirname "$dest")"
  work=$(mktemp -d "$(dirname "$dest")/.cmq-restore.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  tar -xzf "$BACKUP/tree.tar.gz" -C "$work" "$member" || die "extracting $member/ failed"
  replace_dir "$work/$member" "$dest"
  rm -rf "$work"
done
