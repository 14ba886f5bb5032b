#!/bin/sh
# Installs the Borg solder on this machine, from the mothership that served this script:
#
#   curl -fsSL https://borg.example.com/install.sh | sh -s -- --registration-token borg_reg_...
#
# It downloads the solder (one file; it needs only Node.js 20.19 or newer), checks its sha256,
# writes a mode-600 config and token file, and starts it as a systemd service where systemd runs.
# Running it again upgrades in place and keeps the runner's identity. It contains no secret.
set -eu

MOTHERSHIP='@BORG_MOTHERSHIP_URL@'
TOKEN=''
TOKEN_FILE=''
DIR=''
NAME=''
LABELS=''
SERVICE=yes
INSECURE=no
TASK_USER=yes

say() { printf 'borg install: %s\n' "$*"; }
fail() { printf 'borg install: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<'USAGE'
Usage: install.sh --registration-token TOKEN [options]

  --registration-token TOKEN   the token this runner registers with (borg tokens create --kind registration)
  --registration-token-file F  read it from a file instead
  --dir DIR                    where to install (default /opt/borg as root, ~/.local/share/borg otherwise)
  --name NAME                  the runner's name (default the host name)
  --labels k=v,...             labels jobs can require
  --mothership URL             another address for the mothership than the one this script came from
  --insecure                   allow a plain-http mothership that is not this machine
  --no-service                 install only; do not set up or start a systemd service
  --no-task-user               as root, do not create the borg-task user tasks run as (they run as nobody)
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --registration-token) [ $# -ge 2 ] || fail "$1 needs a value"; TOKEN=$2; shift 2 ;;
    --registration-token-file) [ $# -ge 2 ] || fail "$1 needs a value"; TOKEN_FILE=$2; shift 2 ;;
    --dir) [ $# -ge 2 ] || fail "$1 needs a value"; DIR=$2; shift 2 ;;
    --name) [ $# -ge 2 ] || fail "$1 needs a value"; NAME=$2; shift 2 ;;
    --labels) [ $# -ge 2 ] || fail "$1 needs a value"; LABELS=$2; shift 2 ;;
    --mothership) [ $# -ge 2 ] || fail "$1 needs a value"; MOTHERSHIP=$2; shift 2 ;;
    --insecure) INSECURE=yes; shift ;;
    --no-service) SERVICE=no; shift ;;
    --no-task-user) TASK_USER=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown option: $1" ;;
  esac
done

if [ -n "$TOKEN_FILE" ]; then
  [ -r "$TOKEN_FILE" ] || fail "cannot read $TOKEN_FILE"
  TOKEN=$(head -n 1 "$TOKEN_FILE")
fi
[ -n "$TOKEN" ] || { usage >&2; fail "give --registration-token (an admin makes one: borg tokens create NAME --kind registration)"; }
case "$TOKEN" in
  *[!A-Za-z0-9_.~+/=-]*) fail "the registration token holds characters a token never has" ;;
esac

if [ -z "$DIR" ]; then
  if [ "$(id -u)" = 0 ]; then DIR=/opt/borg; else DIR="${HOME:?}/.local/share/borg"; fi
fi

command -v node >/dev/null 2>&1 || fail "Node.js 20.19 or newer is needed on this machine (https://nodejs.org), and there is no node on the PATH"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || fail "Node.js 20.19 or newer is needed; this machine has $(node -v)"
NODE=$(command -v node)

download() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail "curl or wget is needed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    "$NODE" -e 'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync(process.argv[1])).digest("hex"))' "$1"
  fi
}

json_string() { # a JSON string literal of $1
  "$NODE" -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"
}

umask 077
mkdir -p "$DIR/bin" "$DIR/lib" "$DIR/etc" "$DIR/state" "$DIR/work"
# Task workspaces: a root solder runs tasks as another user, who must pass through (not list).
chmod 711 "$DIR/work"
STAGING=$(mktemp -d "$DIR/lib/.download.XXXXXX")
trap 'rm -rf "$STAGING"' EXIT

say "downloading the solder from $MOTHERSHIP"
download "$MOTHERSHIP/install/borg-solder.mjs" "$STAGING/borg-solder.mjs" || fail "could not download $MOTHERSHIP/install/borg-solder.mjs"
download "$MOTHERSHIP/install/borg-solder.mjs.sha256" "$STAGING/borg-solder.mjs.sha256" || fail "could not download its checksum"
expected=$(cut -d ' ' -f 1 "$STAGING/borg-solder.mjs.sha256")
actual=$(sha256_of "$STAGING/borg-solder.mjs")
[ -n "$expected" ] && [ "$expected" = "$actual" ] \
  || fail "the download's sha256 is $actual, not the published $expected: nothing was installed"

chmod 644 "$STAGING/borg-solder.mjs"
mv -f "$STAGING/borg-solder.mjs" "$DIR/lib/borg-solder.mjs"
cat >"$DIR/bin/borg-solder.tmp" <<EOF
#!/bin/sh
exec "$NODE" --enable-source-maps "$DIR/lib/borg-solder.mjs" "\$@"
EOF
chmod 755 "$DIR/bin/borg-solder.tmp"
mv -f "$DIR/bin/borg-solder.tmp" "$DIR/bin/borg-solder"
chmod 755 "$DIR" "$DIR/bin" "$DIR/lib"

printf '%s\n' "$TOKEN" >"$DIR/etc/registration-token"
chmod 600 "$DIR/etc/registration-token"
{
  printf '{\n'
  printf '  "mothership": %s,\n' "$(json_string "$MOTHERSHIP")"
  printf '  "registrationTokenFile": %s,\n' "$(json_string "$DIR/etc/registration-token")"
  printf '  "stateDir": %s,\n' "$(json_string "$DIR/state")"
  printf '  "workDir": %s' "$(json_string "$DIR/work")"
  [ -z "$NAME" ] || printf ',\n  "name": %s' "$(json_string "$NAME")"
  [ -z "$LABELS" ] || printf ',\n  "labels": %s' "$(json_string "$LABELS")"
  [ "$INSECURE" = no ] || printf ',\n  "insecure": true'
  printf '\n}\n'
} >"$DIR/etc/solder.json"
chmod 600 "$DIR/etc/solder.json"
say "installed $DIR/bin/borg-solder ($("$DIR/bin/borg-solder" --version)); settings in $DIR/etc/solder.json (mode 600)"

# A root solder runs tasks as borg-task (else nobody): an account of their own, with no login
# and no home, so a task reaches neither the solder's files nor anything nobody owns.
if [ "$(id -u)" = 0 ] && [ "$TASK_USER" = yes ] && ! id borg-task >/dev/null 2>&1; then
  if command -v useradd >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin borg-task \
      && say "created the user borg-task, whom tasks run as"
  else
    say "no useradd here: tasks will run as nobody (create a borg-task user to give them one of their own)"
  fi
fi

RUN="$DIR/bin/borg-solder --config $DIR/etc/solder.json"
if [ "$SERVICE" = no ] || ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
  say "start it with: $RUN"
  say "to remove it: rm -rf $DIR"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  UNIT=/etc/systemd/system/borg-solder.service
  CTL=systemctl
  TARGET=multi-user.target
else
  UNIT="$HOME/.config/systemd/user/borg-solder.service"
  CTL='systemctl --user'
  TARGET=default.target
  mkdir -p "$(dirname "$UNIT")"
fi
cat >"$UNIT" <<EOF
[Unit]
Description=Borg solder (runs Borg tasks on this machine)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=$RUN
Restart=on-failure
RestartSec=5
# 78: a configuration problem (the registration was refused, or there is no token).
RestartPreventExitStatus=78
KillMode=mixed
TimeoutStopSec=360

[Install]
WantedBy=$TARGET
EOF
$CTL daemon-reload
$CTL enable --now borg-solder.service >/dev/null 2>&1 || $CTL restart borg-solder.service
$CTL restart borg-solder.service
say "started the service borg-solder ($UNIT); see it with: $CTL status borg-solder"
say "to remove it: $CTL disable --now borg-solder && rm -f $UNIT && rm -rf $DIR"
