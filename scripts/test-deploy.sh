#!/usr/bin/env bash
# The deployment, built and run for real (npm run test:deploy):
#
#   1. the base images, made here from Debian's mirrors and the npm registry when they are not
#      there yet (deploy/images/build-base-images.sh: Node 24 and PostgreSQL 15 on Debian 12);
#   2. the Dockerfile, built with podman on that Node 24 base (BASE_IMAGE);
#   3. docker-compose.yml, run with podman-compose: the mothership and PostgreSQL, the mothership
#      published on a free port of 127.0.0.1, until /readyz answers;
#   4. a solder installed as a new worker would: `curl -fsSL …/install.sh | sh -s -- …` as an
#      unprivileged user with a fresh HOME and a PATH that holds no clone of Borg, in a network
#      namespace of its own (a second host: only HTTP reaches the mothership), then started;
#   5. a job submitted with the borg CLI, followed until it succeeds on that solder;
#   6. everything removed again (containers, network, volumes, the solder), also on failure.
#
# It prints how long each step took, among them the time from install.sh to a registered runner.
# Needs root (debootstrap, podman), podman, buildah's podman build and podman-compose (Debian
# packages; installed when missing), curl, openssl and the borg CLI of this checkout.
#
#   npm run test:deploy                       # or: bash scripts/test-deploy.sh
#   BORG_DEPLOY_KEEP=1 npm run test:deploy    # leave the stack running at the end, and say how to remove it
#   BORG_DEPLOY_NO_CACHE=1 npm run test:deploy   # build the image without podman's layer cache
#   BORG_DEPLOY_REBUILD_BASE=1 npm run test:deploy   # make the base images again
#   BORG_DEPLOY_NETNS=0 npm run test:deploy   # the solder on this host's loopback, not in a namespace
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\ntest:deploy: %s\n' "$*"; }
fail() { printf '\ntest:deploy: FAILED: %s\n' "$*" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
timings=()
record() { timings+=("$(printf '%-44s %s' "$1" "$2")"); }

[ "$(id -u)" = 0 ] || fail "run it as root (debootstrap and podman need it)"
[ ! -e .env ] || fail "a .env beside docker-compose.yml would override this test's settings: move it away first"

# --- the container runtime ------------------------------------------------------------------------
if [ -z "${CONTAINERS_CONF:-}" ] && [ -f ../shared/scripts/container-runtime.sh ]; then
  # Makes podman work on these machines (cgroup v1: runc, cgroupfs, no default ulimits).
  bash ../shared/scripts/container-runtime.sh >/dev/null
  export CONTAINERS_CONF=/etc/containers/borg.conf
fi
for tool in podman podman-compose curl openssl; do
  command -v "$tool" >/dev/null && continue
  apt-get install -y -qq podman podman-compose curl openssl >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq podman podman-compose curl openssl >/dev/null; } \
    || fail "could not install $tool"
done

project="borgdeploy$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/borg-test-deploy.XXXXXX")
chmod 755 "$work"
solder_pid=''
netns=''
veth="bwh$$"
compose() { podman-compose -p "$project" -f "$root/docker-compose.yml" "$@"; }

cleanup() {
  local status=$?
  set +e
  if [ "$status" != 0 ]; then
    echo "--- mothership log (last 40 lines)"
    podman logs --tail 40 "${project}_mothership_1" 2>&1
    echo "--- postgres log (last 20 lines)"
    podman logs --tail 20 "${project}_postgres_1" 2>&1
    [ -f "$work/solder.log" ] && { echo "--- solder log (last 40 lines)"; tail -n 40 "$work/solder.log"; }
  fi
  if [ -n "${BORG_DEPLOY_KEEP:-}" ] && [ "$status" = 0 ]; then
    say "left running (BORG_DEPLOY_KEEP): the mothership on $base (BORG_TOKEN=$BORG_ADMIN_TOKEN), the solder
  (pid $solder_pid) in $work. Remove them with
  kill $solder_pid; POSTGRES_PASSWORD=unused podman-compose -p $project -f docker-compose.yml down -v
  podman network rm ${project}_default
  ${netns:+ip netns del $netns; ip link del $veth; }rm -rf $work"
    return
  fi
  if [ -n "$solder_pid" ]; then
    kill "$solder_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$solder_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$solder_pid" 2>/dev/null
    wait "$solder_pid" 2>/dev/null
  fi
  [ -n "$netns" ] && { ip netns del "$netns"; ip link del "$veth" 2>/dev/null; }
  local start; start=$(now)
  compose down -v -t 15 >"$work/down.log" 2>&1
  # podman-compose 1.0 leaves the network and, after a failed start, a container or volume.
  podman ps -aq --filter "label=io.podman.compose.project=$project" | xargs -r podman rm -f >/dev/null 2>&1
  podman volume ls -q --filter "label=io.podman.compose.project=$project" | xargs -r podman volume rm -f >/dev/null 2>&1
  podman network rm -f "${project}_default" >/dev/null 2>&1
  rm -rf "$work"
  echo "test:deploy: removed the stack, its volumes and the solder ($(since "$start"))"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

total=$(now)

# --- 1. base images -------------------------------------------------------------------------------
say "base images"
start=$(now)
bash deploy/images/build-base-images.sh ${BORG_DEPLOY_REBUILD_BASE:+--rebuild}
record "base images (made, or found)" "$(since "$start")"

# --- 2. the Borg image ----------------------------------------------------------------------------
say "podman build (Dockerfile, BASE_IMAGE=localhost/borg-node:24-bookworm)"
start=$(now)
built_after=$(date +%s)
podman build --format docker ${BORG_DEPLOY_NO_CACHE:+--no-cache} --label io.borg.test-deploy=1 \
  --build-arg BASE_IMAGE=localhost/borg-node:24-bookworm -t borg-mothership:latest . >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log"; fail "podman build"; }
# The images earlier runs built and no tag names any more (~0.5 GB each); the layers this build
# used stay, as the cache of the next.
podman image prune -f --filter label=io.borg.test-deploy=1 --filter "until=$built_after" >/dev/null 2>&1 || true
grep -E '^(\[[0-9]/[0-9]\] )?STEP|^COMMIT|Using cache' "$work/build.log" | sed 's/^/  /' | tail -n 30
record "podman build of the Dockerfile" "$(since "$start")"
podman image inspect borg-mothership:latest --format '  image {{.Id}}: {{.Size}} bytes, user {{.Config.User}}, cmd {{.Config.Cmd}}'
podman run --rm --no-healthcheck --entrypoint node borg-mothership:latest -e 'console.log(`  Node ${process.version} in the image`)'

# --- 3. docker-compose.yml ------------------------------------------------------------------------
# The worker's "network": a namespace joined to this host by a veth pair, the mothership published
# on this host's end only. Where namespaces cannot be made, the worker shares this host's loopback.
publish=127.0.0.1
in_worker_net=()
if [ "${BORG_DEPLOY_NETNS:-1}" != 0 ] && command -v ip >/dev/null; then
  subnet="10.231.$((RANDOM % 250)).0"
  host_ip=${subnet%.0}.1 worker_ip=${subnet%.0}.2
  if ip netns add "borgw$$" 2>/dev/null; then
    netns="borgw$$"
    ip link add "$veth" type veth peer name "bww$$" && ip link set "bww$$" netns "$netns" \
      && ip addr add "$host_ip/30" dev "$veth" && ip link set "$veth" up \
      && ip -n "$netns" addr add "$worker_ip/30" dev "bww$$" && ip -n "$netns" link set "bww$$" up \
      && ip -n "$netns" link set lo up \
      || fail "could not join the namespace $netns to this host"
    publish=$host_ip
    in_worker_net=(ip netns exec "$netns")
  else
    echo "  (no network namespace here: the solder runs on this host's loopback)"
  fi
fi
port=$(python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$publish")
base="http://$publish:$port"
export BORG_PUBLISH=$publish
export POSTGRES_PASSWORD; POSTGRES_PASSWORD=$(openssl rand -hex 24)
export BORG_ADMIN_TOKEN; BORG_ADMIN_TOKEN="borg_usr_$(openssl rand -hex 24)"
export BORG_REGISTRATION_TOKEN; BORG_REGISTRATION_TOKEN="borg_reg_$(openssl rand -hex 24)"
export BORG_PUBLISH_PORT=$port
export BORG_POSTGRES_IMAGE=localhost/borg-postgres:15-bookworm

say "podman-compose up -d (project $project, the mothership on $base)"
start=$(now)
compose up -d >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "podman-compose up"; }
ready=no
for _ in $(seq 1 180); do
  if curl -fs "$base/readyz" >/dev/null 2>&1; then ready=yes; break; fi
  sleep 1
done
[ "$ready" = yes ] || fail "the mothership did not answer /readyz within 180 s"
record "podman-compose up to /readyz" "$(since "$start")"
podman ps --filter "label=io.podman.compose.project=$project" --format '  {{.Names}}  {{.Image}}  {{.Status}}  {{.Ports}}'
echo "  /readyz: $(curl -fsS "$base/readyz")"
# Without systemd, podman runs no health checks on its own: run each service's once, as compose defines it.
for service in postgres mothership; do
  podman healthcheck run "${project}_${service}_1" >/dev/null 2>&1 || fail "the health check of $service failed"
  echo "  health check of $service: healthy"
done

# --- 4. a solder from install.sh ------------------------------------------------------------------
# A new worker: an unprivileged user (nobody, when this runs as root), a fresh HOME, a PATH with
# only the system's directories and node, and its own network namespace. Nothing of this checkout
# is reachable from it but over HTTP. Plain http to another host needs --insecure.
home="$work/home"
mkdir -p "$home"
node_dir=$(dirname "$(command -v node)")
worker_path="/usr/local/bin:/usr/bin:/bin"
case ":$worker_path:" in *":$node_dir:"*) ;; *) worker_path="$node_dir:$worker_path" ;; esac
as_worker() {
  "${in_worker_net[@]}" setpriv --reuid=nobody --regid=nogroup --clear-groups env -i HOME="$home" PATH="$worker_path" "$@"
}
insecure=()
[ -n "$netns" ] && insecure=(--insecure)
chown nobody:nogroup "$home"
runner_name="deploy-test-$project"

say "curl -fsSL $base/install.sh | sh -s -- --registration-token … --no-service ${insecure[*]} (as nobody, HOME=$home${netns:+, network namespace $netns})"
install_start=$(now)
as_worker sh -c 'curl -fsSL "$0/install.sh" | sh -s -- "$@"' "$base" --registration-token "$BORG_REGISTRATION_TOKEN" \
  --no-service --name "$runner_name" --labels deploy=test "${insecure[@]}" 2>&1 | sed 's/^/  /' || fail "install.sh"
[ -x "$home/.local/share/borg/bin/borg-solder" ] || fail "install.sh installed no solder"
record "install.sh (download, sha256, config)" "$(since "$install_start")"
solder_dir="$home/.local/share/borg"
# Not through as_worker: a function would run in a subshell, and $! would not be the solder.
"${in_worker_net[@]}" setpriv --reuid=nobody --regid=nogroup --clear-groups env -i HOME="$home" PATH="$worker_path" \
  "$solder_dir/bin/borg-solder" --config "$solder_dir/etc/solder.json" >"$work/solder.log" 2>&1 &
solder_pid=$! # each of ip, setpriv, env and the borg-solder script execs the next: this is node's

export BORG_ADDR=$base BORG_TOKEN=$BORG_ADMIN_TOKEN
# The CLI, like install.sh, sends a token over plain http to an address not on loopback only when told to.
[ -n "$netns" ] && export BORG_INSECURE=1
borg() { node "$root/packages/cli/bin/borg.js" "$@"; }
registered=no
for _ in $(seq 1 120); do
  if curl -fsS -H "Authorization: Bearer $BORG_TOKEN" "$base/api/v1/runners" 2>/dev/null \
    | node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
        const body = JSON.parse(s); const list = Array.isArray(body) ? body : body.items ?? body.runners ?? [];
        process.exit(list.some((r) => r.name === process.argv[1] && r.status === "online") ? 0 : 1); });' "$runner_name"; then
    registered=yes; break
  fi
  kill -0 "$solder_pid" 2>/dev/null || fail "the installed solder exited"
  sleep 0.5
done
[ "$registered" = yes ] || fail "the installed solder did not show as an online runner within 60 s"
record "install.sh to a registered runner" "$(since "$install_start")"
borg runners list | sed 's/^/  /'

# --- 5. a job ---------------------------------------------------------------------------------------
say "borg submit --follow (on the runner labelled deploy=test)"
start=$(now)
borg submit --name deploy-test --label deploy=test --follow -- \
  'echo "hello from $(id -un) on $(uname -n), node $(node --version)"' 2>&1 | sed 's/^/  /' \
  || fail "the job did not succeed"
record "job submitted to succeeded" "$(since "$start")"
borg jobs list --name deploy-test | sed 's/^/  /'

record "total" "$(since "$total")"
say "all steps passed"
printf '  %s\n' "${timings[@]}"
