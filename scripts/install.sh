#!/bin/sh
# Install a built cmq-workers tree (after `scripts/npm-install.sh && npm run build`) under PREFIX.
#
#   scripts/install.sh [--prefix DIR] [--destdir DIR] [--no-user]
#
# Every target path can be overridden from the environment (tests install into a temp dir):
#   PREFIX=/opt/cmq-workers  DESTDIR=  CONFIG_DIR=/etc/cmq-workers  LOG_DIR=/var/log/cmq-workers
#   RUN_DIR=/run/cmq-workers  STATE_DIR=/var/lib/cmq-workers  INITD_DIR=/etc/init.d
#   SYSTEMD_UNIT_DIR=/lib/systemd/system  LOGROTATE_DIR=/etc/logrotate.d
#   DEFAULTS_FILE=/etc/default/cmq-workers  CMQ_USER=cmq  CMQ_GROUP=$CMQ_USER
#   DRAIN_TIMEOUT=30 (or the existing defaults file's)  NODE=$(command -v node)
#   CMQ_NO_USER=1 (same as --no-user)
# With DESTDIR set (packaging), no user is created and nothing is chowned to it; run as root,
# the installed tree is root's. Existing directories keep their mode and owner.
# Existing configuration files and an existing defaults file are never overwritten.
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/cmq-workers}
DESTDIR=${DESTDIR:-}
CONFIG_DIR=${CONFIG_DIR:-/etc/cmq-workers}
LOG_DIR=${LOG_DIR:-/var/log/cmq-workers}
RUN_DIR=${RUN_DIR:-/run/cmq-workers}
STATE_DIR=${STATE_DIR:-/var/lib/cmq-workers}
INITD_DIR=${INITD_DIR:-/etc/init.d}
SYSTEMD_UNIT_DIR=${SYSTEMD_UNIT_DIR:-/lib/systemd/system}
LOGROTATE_DIR=${LOGROTATE_DIR:-/etc/logrotate.d}
DEFAULTS_FILE=${DEFAULTS_FILE:-/etc/default/cmq-workers}
CMQ_USER=${CMQ_USER:-cmq}
CMQ_GROUP=${CMQ_GROUP:-$CMQ_USER}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-}
CMQ_NO_USER=${CMQ_NO_USER:-0}

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; DESTDIR=$2; shift 2 ;;
    --no-user) CMQ_NO_USER=1; shift ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# Reinstalling keeps the defaults file, so its DRAIN_TIMEOUT is the one the units must match.
if [ -z "${DRAIN_TIMEOUT:-}" ] && [ -r "$DESTDIR$DEFAULTS_FILE" ]; then
  DRAIN_TIMEOUT=$(sed -n 's/^DRAIN_TIMEOUT=\([0-9]*\).*/\1/p' "$DESTDIR$DEFAULTS_FILE" | tail -n 1)
fi
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30}

# Paths end up in sed expressions and generated scripts: keep them to a safe alphabet.
for p in "$PREFIX" "$CONFIG_DIR" "$LOG_DIR" "$RUN_DIR" "$STATE_DIR" "$INITD_DIR" \
         "$SYSTEMD_UNIT_DIR" "$LOGROTATE_DIR" "$DEFAULTS_FILE"; do
  case $p in
    /*) ;;
    *) die "path must be absolute: $p" ;;
  esac
  case $p in
    *[!A-Za-z0-9._/+-]*) die "unsupported character in path: $p" ;;
  esac
done
case $DRAIN_TIMEOUT in ''|*[!0-9]*) die "DRAIN_TIMEOUT must be whole seconds: $DRAIN_TIMEOUT" ;; esac

NODE=${NODE:-$(command -v node || true)}
case $NODE in
  /*) [ -x "$NODE" ] || die "node is not executable: $NODE" ;;
  *) die "node not found on PATH; set NODE=/absolute/path/to/node" ;;
esac

[ -f "$SRC/package.json" ] || die "$SRC/package.json is missing"
# The workspaces (package.json "workspaces") and the bins they declare, as "name path" lines.
workspaces=$(cd "$SRC" && "$NODE" -e 'for (const w of require("./package.json").workspaces ?? []) console.log(w)') \
  || die "cannot read the workspaces from $SRC/package.json"
bins=$(cd "$SRC" && "$NODE" -e '
  for (const w of require("./package.json").workspaces ?? []) {
    const bin = require("./" + w + "/package.json").bin ?? {};
    for (const [name, path] of Object.entries(typeof bin === "string" ? {} : bin)) console.log(name + " " + w + "/" + path);
  }') || die "cannot read the bins of the workspaces"
for ws in $workspaces; do
  [ -d "$SRC/$ws/dist" ] || die "$SRC/$ws/dist is missing: run 'scripts/npm-install.sh && npm run build' in $SRC first"
done
for b in cmq cmq-publisher cmq-subscriber cmq-pinger; do
  printf '%s\n' "$bins" | grep -q "^$b " || die "no workspace declares the bin $b"
done
[ -d "$SRC/node_modules" ] || die "$SRC/node_modules is missing: run 'scripts/npm-install.sh' in $SRC first"

manage_owner=1
if [ -n "$DESTDIR" ] || [ "$CMQ_NO_USER" = 1 ]; then
  manage_owner=0
elif [ "$(id -u)" != 0 ]; then
  die "run as root (or set DESTDIR=... / --no-user for an unprivileged staging install)"
fi

# The user gets a real shell, /bin/sh, not nologin: the local cloud's servers (sshd processes the
# subscriber starts, see docs/cloud.md) run every command as `<shell> -c ...` as the user
# running the subscriber, and a non-root sshd admits no one else. It still has no password: '*'
# (not useradd's locked '!', which sshd without PAM refuses as a locked account) and no
# authorized keys of its own, so nobody logs in as it except through a local server's own key.
# Its home is /, which it cannot write: commands run on local servers run as this user, and with
# a writable home they could add ~/.ssh/authorized_keys and log in through the host's own sshd.
if [ "$manage_owner" = 1 ] && ! getent passwd "$CMQ_USER" >/dev/null; then
  say "creating system user $CMQ_USER"
  useradd --system --user-group --home-dir / --no-create-home \
    --shell /bin/sh --password '*' --comment "cmq-workers" "$CMQ_USER" \
    || die "could not create user $CMQ_USER"
elif [ "$manage_owner" = 1 ]; then
  # An older install created the user with nologin. Change it only for a user this script
  # created (its comment says so); another existing user is the administrator's to change.
  entry=$(getent passwd "$CMQ_USER")
  comment=$(printf '%s\n' "$entry" | cut -d: -f5)
  shell=$(printf '%s\n' "$entry" | cut -d: -f7)
  home=$(printf '%s\n' "$entry" | cut -d: -f6)
  if [ "$comment" = cmq-workers ] && [ "$home" != / ]; then
    say "giving user $CMQ_USER the home / (it must not write its own ~/.ssh)"
    usermod --home / "$CMQ_USER" || die "could not change the home of $CMQ_USER"
  fi
  case $shell in
    */nologin|*/false)
      if [ "$comment" = cmq-workers ]; then
        say "giving user $CMQ_USER the shell /bin/sh (local cloud servers run commands as it)"
        usermod --shell /bin/sh "$CMQ_USER" || die "could not change the shell of $CMQ_USER"
        # useradd's default '!' (no password, locked) becomes '*' (no password, not locked).
        case $(getent shadow "$CMQ_USER" | cut -d: -f2) in
          '!'|'!!'|'!*') usermod --password '*' "$CMQ_USER" || die "could not unlock $CMQ_USER" ;;
        esac
      else
        say "warning: user $CMQ_USER has the shell $shell: local cloud servers cannot run commands as it (usermod -s /bin/sh $CMQ_USER, or set provisioning.cfg cloud.local.login_user with the subscriber running as root)"
      fi ;;
  esac
fi
if [ "$manage_owner" = 1 ] && ! getent group "$CMQ_GROUP" >/dev/null; then
  die "group $CMQ_GROUP does not exist"
fi

# mkdir_owned DIR MODE OWNER GROUP
mkdir_owned() {
  # An existing directory keeps its mode: an operator's change (operations.md suggests chmod
  # 0711 for STATE_DIR) must survive an upgrade. One the services write to must still be theirs:
  # made first by a process run as root (`npm run bench` with the default metrics.dir, say), it
  # would stop every service at start ("not a writable directory").
  if [ -d "$DESTDIR$1" ]; then
    if [ "$manage_owner" = 1 ] && [ "$3" = "$CMQ_USER" ]; then
      owner=$(stat -c %U "$DESTDIR$1")
      if [ "$owner" != "$3" ]; then
        chown "$3:$4" "$DESTDIR$1"
        say "$1 was owned by $owner; now by $3:$4 (the services write there), its mode kept"
      fi
    fi
    return 0
  fi
  if [ "$manage_owner" = 1 ]; then
    install -d -m "$2" -o "$3" -g "$4" "$DESTDIR$1"
  else
    install -d -m "$2" "$DESTDIR$1"
  fi
}

# Rewrite the default paths baked into the repo's init script, units and logrotate file.
# Two stages through @@tokens@@ so that one replacement never rewrites another's output.
subst_paths() {
  sed -e "s|/etc/default/cmq-workers|@@DEFAULTS@@|g" \
      -e "s|/etc/init.d/cmq-workers|@@INITD@@|g" \
      -e "s|/opt/cmq-workers|@@PREFIX@@|g" \
      -e "s|/etc/cmq-workers|@@CONFIG@@|g" \
      -e "s|/var/log/cmq-workers|@@LOG@@|g" \
      -e "s|/run/cmq-workers|@@RUN@@|g" \
      -e "s|/var/lib/cmq-workers|@@STATE@@|g" \
      -e "s|^User=cmq\$|User=$CMQ_USER|" \
      -e "s|^Group=cmq\$|Group=$CMQ_GROUP|" \
      -e "s|^TimeoutStopSec=40\$|TimeoutStopSec=$((DRAIN_TIMEOUT + 10))|" \
      -e "s|@@DEFAULTS@@|$DEFAULTS_FILE|g" \
      -e "s|@@INITD@@|$INITD_DIR/cmq-workers|g" \
      -e "s|@@PREFIX@@|$PREFIX|g" \
      -e "s|@@CONFIG@@|$CONFIG_DIR|g" \
      -e "s|@@LOG@@|$LOG_DIR|g" \
      -e "s|@@RUN@@|$RUN_DIR|g" \
      -e "s|@@STATE@@|$STATE_DIR|g" \
      "$1"
}

# install_text SRC DEST MODE: substituted copy, written atomically.
install_text() {
  install -d "$(dirname "$2")"
  subst_paths "$1" >"$2.tmp.$$"
  chmod "$3" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}

# --- the service tree, staged beside PREFIX and swapped in at the end -----------------------
dest_prefix=$DESTDIR$PREFIX
install -d "$(dirname "$dest_prefix")"
stage=$(mktemp -d "$(dirname "$dest_prefix")/.$(basename "$dest_prefix").install.XXXXXX")
old=
trap 'rm -rf "$stage"; [ -z "$old" ] || [ ! -d "$old" ] || [ -e "$dest_prefix" ] || mv "$old" "$dest_prefix"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "copying the built tree from $SRC"
# Only the production packages of node_modules (npm ls --omit=dev: 9 MB of 137 MB here),
# plus .bin (without its links npm prune thinks packages changed and wants the registry).
# Nested node_modules come along with their parents.
prod=$(cd "$SRC" && npm ls --omit=dev --parseable --all --offline 2>/dev/null \
  | sed -nE "s#^$SRC/(((packages|services)/[^/]+/)?node_modules/(@[^/]+/)?[^/@][^/]*)\$#\1#p" | sort -u) || true
case $prod in
  *node_modules/@cmq/common*) ;;
  *) die "'npm ls --omit=dev' in $SRC did not list the workspace packages: run 'scripts/npm-install.sh' there" ;;
esac
# Of each workspace: package.json, dist/ and, where there is one, migrations/.
parts=
for ws in $workspaces; do
  parts="$parts $ws/package.json $ws/dist"
  if [ -d "$SRC/$ws/migrations" ]; then parts="$parts $ws/migrations"; fi
done
(
  cd "$SRC"
  # shellcheck disable=SC2086 # one word per path
  cp -a --parents package.json package-lock.json node_modules/.bin $prod $parts "$stage/"
) || die "copy failed"
find "$stage" -name '*.tsbuildinfo' -type f -delete

say "checking the production tree (npm prune --omit=dev --offline)"
(cd "$stage" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error) \
  || die "npm prune failed in $stage"
find "$stage/node_modules/.bin" -xtype l -delete # links to the dev tools left behind
(cd "$stage" && "$NODE" -e "require('unix-dgram')") \
  || die "the native addon unix-dgram does not load from the installed tree"
for path in $(printf '%s\n' "$bins" | awk '{print $2}'); do
  "$NODE" "$stage/$path" --help >/dev/null \
    || die "$path does not load from the installed tree (a dependency missing?)"
done

# Backup/restore (paths rewritten like the init script) and the operations guide the units cite.
for f in scripts/backup.sh scripts/restore.sh; do
  install_text "$SRC/$f" "$stage/$f" 0755
done
install -d "$stage/docs"
install -m 0644 "$SRC/docs/operations.md" "$stage/docs/operations.md"

install -d "$stage/bin"
printf '%s\n' "$bins" | while read -r name path; do
  {
    echo '#!/bin/sh'
    echo "# Generated by cmq-workers scripts/install.sh: exec keeps the pid, so NotifyAccess=main works."
    if [ "$CONFIG_DIR" != /etc/cmq-workers ]; then
      echo "CMQ_CONFIG_DIR=\${CMQ_CONFIG_DIR:-$CONFIG_DIR}"
      echo "export CMQ_CONFIG_DIR"
    fi
    echo "exec '$NODE' '$PREFIX/$path' \"\$@\""
  } >"$stage/bin/$name"
  chmod 0755 "$stage/bin/$name"
done
chmod 0755 "$stage"
# Root runs this code (cmq migrate, backup.sh from cron): as root, the tree is root's, not the
# builder's (cp -a kept the checkout's owner).
if [ "$(id -u)" = 0 ]; then chown -R root:root "$stage"; fi

if [ -e "$dest_prefix" ]; then
  old=$stage.old
  mv "$dest_prefix" "$old"
fi
mv "$stage" "$dest_prefix"
if [ -n "$old" ]; then rm -rf "$old"; fi
old=
say "installed $dest_prefix"

# --- directories --------------------------------------------------------------------------
mkdir_owned "$CONFIG_DIR" 0750 root "$CMQ_GROUP"
mkdir_owned "$LOG_DIR" 0750 "$CMQ_USER" "$CMQ_GROUP"
mkdir_owned "$LOG_DIR/tenants" 0750 "$CMQ_USER" "$CMQ_GROUP"
mkdir_owned "$RUN_DIR" 0755 "$CMQ_USER" "$CMQ_GROUP"
mkdir_owned "$STATE_DIR" 0750 "$CMQ_USER" "$CMQ_GROUP"
# metrics.dir's default: node_exporter's textfile collector reads it.
mkdir_owned "$STATE_DIR/metrics" 0755 "$CMQ_USER" "$CMQ_GROUP"

# --- configuration samples: only where a file is missing ------------------------------------
for f in "$SRC"/etc/*; do
  [ -f "$f" ] || continue
  dest=$DESTDIR$CONFIG_DIR/$(basename "$f")
  if [ -e "$dest" ]; then
    say "kept existing $dest"
  elif [ "$manage_owner" = 1 ]; then
    install -m 0640 -o root -g "$CMQ_GROUP" "$f" "$dest"
  else
    install -m 0640 "$f" "$dest"
  fi
done

# --- init script, systemd units, logrotate, defaults --------------------------------------
install_text "$SRC/init/cmq-workers" "$DESTDIR$INITD_DIR/cmq-workers" 0755
for unit in "$SRC"/init/systemd/*.service "$SRC"/init/systemd/*.target; do
  [ -f "$unit" ] || continue
  install_text "$unit" "$DESTDIR$SYSTEMD_UNIT_DIR/$(basename "$unit")" 0644
done
install_text "$SRC/etc/logrotate.d/cmq-workers" "$DESTDIR$LOGROTATE_DIR/cmq-workers" 0644

if [ -e "$DESTDIR$DEFAULTS_FILE" ]; then
  say "kept existing $DESTDIR$DEFAULTS_FILE"
else
  install -d "$(dirname "$DESTDIR$DEFAULTS_FILE")"
  cat >"$DESTDIR$DEFAULTS_FILE" <<EOF
# cmq-workers host settings, read by $INITD_DIR/cmq-workers and scripts/backup.sh.
# Written by scripts/install.sh; edit freely, reinstalling keeps this file.
PREFIX='$PREFIX'
CONFIG_DIR='$CONFIG_DIR'
LOG_DIR='$LOG_DIR'
RUN_DIR='$RUN_DIR'
STATE_DIR='$STATE_DIR'
CMQ_USER='$CMQ_USER'
CMQ_GROUP='$CMQ_GROUP'
# Seconds stop waits after SIGTERM before SIGKILL (plus STOP_GRACE); keep it equal to
# shutdown.drain_timeout in the properties files.
DRAIN_TIMEOUT=$DRAIN_TIMEOUT
EOF
  chmod 0644 "$DESTDIR$DEFAULTS_FILE"
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && [ "$SYSTEMD_UNIT_DIR" = /lib/systemd/system ]; then
  systemctl daemon-reload || say "warning: systemctl daemon-reload failed"
fi

say "done. Next: edit $CONFIG_DIR/*.properties|*.cfg, run '$PREFIX/bin/cmq config check' and"
say "'$PREFIX/bin/cmq migrate', then start with either"
say "  systemd:  systemctl enable --now cmq-workers.target cmq-publisher.service cmq-pinger.service cmq-subscriber@NAME.service"
say "  SysV:     update-rc.d cmq-workers defaults && $INITD_DIR/cmq-workers start"
