#!/usr/bin/env bash
# Builds container images of the peer proxies installed on this machine, with no image registry,
# for the deploy benchmark's Swarm cases (they run as stack services):
#   bluegreen/bench-peer-nginx:local    /usr/sbin/nginx
#   bluegreen/bench-peer-haproxy:local  /usr/sbin/haproxy
#   bluegreen/bench-peer-caddy:local    /usr/bin/caddy
# Each is a root filesystem imported with `docker import` (like scripts/build-images.sh does for
# the Node base): the binary, the shared libraries `ldd` lists and the dynamic loader, /etc/passwd
# and /etc/group (root, nobody, www-data), nsswitch.conf and hosts, and writable /tmp, /run,
# /var/lib/<peer> and /var/log/<peer>. Nothing from the system config dirs: the bench bind-mounts
# the config it writes at /etc/bench/. An image carries a label with the hash of its binary and
# this recipe and is skipped when that matches, so a run with nothing changed takes a second.
#
# Usage: bench/peers/build-images.sh [nginx|haproxy|caddy ...]   (default: all three)
# Prints one line per peer on stdout: "<peer> ok <tag>" or "<peer> skipped <reason>"; exits 0
# unless the engine does not answer. FORCE=1 rebuilds.
set -euo pipefail

RECIPE=1
say() { echo "build-peer-images: $*" >&2; }

docker info >/dev/null 2>&1 || { say "Docker Engine does not answer; run scripts/ensure-docker.sh first"; exit 1; }

bin_of() {
  case $1 in
    nginx) command -v nginx || echo /usr/sbin/nginx ;;
    haproxy) command -v haproxy || echo /usr/sbin/haproxy ;;
    caddy) command -v caddy || echo /usr/bin/caddy ;;
  esac
}

cmd_of() {
  case $1 in
    nginx) echo '["/usr/sbin/nginx", "-p", "/var/lib/nginx/", "-e", "stderr", "-c", "/etc/bench/nginx.conf"]' ;;
    haproxy) echo '["/usr/sbin/haproxy", "-db", "-f", "/etc/bench/haproxy.cfg"]' ;;
    caddy) echo '["/usr/bin/caddy", "run", "--config", "/etc/bench/Caddyfile", "--adapter", "caddyfile"]' ;;
  esac
}

label_of() {
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//' || true
}

copy_with_libs() { # binary dest-in-rootfs rootfs
  local bin=$1 dest=$2 rootfs=$3 lib
  install -D -m 0755 "$(readlink -f "$bin")" "$rootfs$dest"
  for lib in $(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    [ -e "$rootfs$lib" ] && continue
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

build() { # peer
  local peer=$1 bin tag key sum rootfs old
  bin=$(bin_of "$peer")
  tag="bluegreen/bench-peer-$peer:local"
  if ! [ -x "$bin" ]; then echo "$peer skipped not installed ($bin)"; return; fi
  sum=$(sha256sum "$(readlink -f "$bin")" | cut -c1-64)
  key=$(echo "recipe=$RECIPE peer=$peer bin=$sum" | sha256sum | cut -c1-32)
  if [ "${FORCE:-0}" != 1 ] && [ "$(label_of "$tag" io.bluegreen-bench.peer.key)" = "$key" ]; then
    echo "$peer ok $tag"
    return
  fi
  local started=$SECONDS
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{dev,etc/bench,proc,sys,root,tmp,run,var/tmp,var/lock,"var/lib/$peer","var/log/$peer"}
  copy_with_libs "$bin" "$bin" "$rootfs"
  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
www-data:x:33:
nogroup:x:65534:
nobody:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
  : >"$rootfs/etc/resolv.conf"
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp" "$rootfs/run" "$rootfs/var/lock" "$rootfs/var/lib/$peer" "$rootfs/var/log/$peer"
  old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  if tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
    docker import \
      --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV HOME=/tmp XDG_DATA_HOME=/tmp/data XDG_CONFIG_HOME=/tmp/config' \
      --change "LABEL io.bluegreen-bench.peer.key=$key io.bluegreen-bench.peer.bin-sha256=$sum" \
      --change 'WORKDIR /tmp' \
      --change "CMD $(cmd_of "$peer")" \
      --message "bluegreen deploy bench peer: $bin" \
      - "$tag" >/dev/null; then
    say "built $tag from $bin in $((SECONDS - started)) s"
    local now
    now=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    if [ -n "$old" ] && [ "$old" != "$now" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
    echo "$peer ok $tag"
  else
    echo "$peer skipped docker import of $bin failed"
  fi
  rm -rf "$rootfs"
}

peers=("$@")
[ ${#peers[@]} -gt 0 ] || peers=(nginx haproxy caddy)
for p in "${peers[@]}"; do
  case $p in
    nginx | haproxy | caddy) build "$p" ;;
    *) echo "$p skipped unknown peer" ;;
  esac
done
