#!/usr/bin/env bash
# test/e2e/multinode/swarm-nodes.sh: the project's multi-node Docker Swarm on ONE Linux machine, for
# `npm run test:swarm` (test/e2e/multinode/*.test.ts). Same technique as the team's shared tool, with
# its own fixed names (bgm-*), addresses and directories, so both can exist side by side.
#
#   `up [N]` starts N extra Docker engines (default 3) beside the machine's own dockerd, each in its own
#   network namespace with its own data root, exec root, containerd, cgroup parent and API socket, wires
#   them to one private L2 segment, and forms one Swarm: node 1 is the manager, nodes 2..N join as
#   workers (BGM_MANAGERS=k makes nodes 1..k managers). Overlay networks (VXLAN) work between nodes.
#
#     host netns                  bgm-hub netns                 bgm-nK netns (one per node)
#     bgm-host 10.233.0.254 ──veth── bgm-br0 (bridge) ──veth── eth0 10.233.0.K  dockerd + containerd
#
#   Underlay: 10.233.0.0/24 (node K = 10.233.0.K, the host = 10.233.0.254). Overlay subnets come from
#   10.234.0.0/16 (swarm --default-addr-pool). The node namespaces have NO default route: nothing they
#   run can reach an address outside these namespaces. The machine's own dockerd, its containers,
#   images, networks and iptables rules are never touched.
#
# Subcommands
#   up [N]        start/complete nodes 1..N and the swarm (idempotent); prints
#                 `nodeK DOCKER_HOST=unix:///run/bgm/nK/docker.sock` per node
#   env [K]       print `export DOCKER_HOST=...` for node K (default 1: the manager)
#   load IMAGE..  copy local image(s) from the main engine (docker save | docker load) to every node
#   status        one line per node: pid, swarm state, role
#   crash K       node K dies abruptly: SIGKILL to its dockerd, containerd, shims and containers
#                 (everything in its netns and cgroups); its state stays for `down`
#   down          stop every node and remove all it created: processes, namespaces, veths, bridge,
#                 cgroups, /var/lib/bgm and /run/bgm. The main dockerd is left as it is.
#
# Requirements: root; network namespaces, veth, bridge, vxlan; iproute2, util-linux (nsenter,
# unshare), dockerd + containerd + runc (Debian docker.io 20.10.24 here, cgroup v1). No registry:
# images come from the main engine via `load`. No ingress routing mesh (needs IPVS): publish ports
# with mode=host, use endpoint_mode dnsrr; `docker stack deploy --resolve-image never` and
# `docker service update --no-resolve-image`. The engines run with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1.
#
# Settings (environment): BGM_MANAGERS (1), BGM_TIMEOUT seconds per wait (60), BGM_MAIN_DOCKER_HOST
# (unix:///var/run/docker.sock: where `load` takes images from; DOCKER_HOST is ignored for that).
# Fixed names (so `down` finds everything): netns bgm-hub, bgm-n1..; bridge bgm-br0; host veth bgm-host;
# cgroup parent /bgm-nK; dirs /var/lib/bgm/nK (data, logs) and /run/bgm/nK (exec root, socket).
set -euo pipefail

P=bgm
NET=10.233.0            # underlay /24, node K = $NET.K
HOST_IP=$NET.254
POOL=10.234.0.0/16      # swarm overlay address pool
STATE=/var/lib/$P
RUN=/run/$P
MAIN=${BGM_MAIN_DOCKER_HOST:-unix:///var/run/docker.sock}   # the machine's own engine (source for `load`)
MANAGERS=${BGM_MANAGERS:-1}
TIMEOUT=${BGM_TIMEOUT:-60}
ME=$(basename "$0")

die() { echo "$ME: error: $*" >&2; exit 1; }
log() { echo "$ME: $*" >&2; }
sock() { echo "$RUN/n$1/docker.sock"; }
dk() { local k=$1; shift; docker -H "unix://$(sock "$k")" "$@"; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces and starts dockerd)"; }
need_cmds() {
  local c
  for c in ip nsenter unshare dockerd containerd runc docker; do
    command -v "$c" >/dev/null 2>&1 || die "command '$c' not found; install iproute2, util-linux and docker.io"
  done
}

# wait_for SECONDS DESCRIPTION CMD...: retry CMD every 0.25 s until it succeeds or SECONDS pass.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.25
  done
}

# pid of node K's dockerd if it is running and really is ours (cmdline names our exec root), else empty
node_pid() {
  local f="$RUN/n$1/dockerd.pid" pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--exec-root $RUN/n$1/exec " && echo "$pid"
  return 0
}

existing_nodes() {   # node numbers that have any state (dirs or netns), ascending; empty if none
  { ls -d "$RUN"/n[0-9]* "$STATE"/n[0-9]* 2>/dev/null || true
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$P-n[0-9]+$" || true; } \
    | sed -E 's/.*n([0-9]+)$/\1/' | sort -un
}

net_up() {   # hub namespace + bridge + host veth; idempotent
  if ! ip netns list | grep -qw "$P-hub"; then
    if ip route show | grep -q "^$NET\.0/24" && ! ip link show "$P-host" >/dev/null 2>&1; then
      die "$NET.0/24 is already routed on this host by something else; refusing to overlap"
    fi
    ip netns add "$P-hub"
  fi
  ip -n "$P-hub" link set lo up
  ip -n "$P-hub" link show "$P-br0" >/dev/null 2>&1 || ip -n "$P-hub" link add "$P-br0" type bridge
  ip -n "$P-hub" link set "$P-br0" up
  if ! ip link show "$P-host" >/dev/null 2>&1; then
    ip link add "$P-host" type veth peer name "$P-host-p" netns "$P-hub"
    ip addr add "$HOST_IP/24" dev "$P-host"
  fi
  ip link set "$P-host" up
  ip -n "$P-hub" link set "$P-host-p" master "$P-br0" up
  # vxlan must be creatable (the overlay driver needs it)
  if ! ip -n "$P-hub" link show "$P-vxchk" >/dev/null 2>&1; then
    ip -n "$P-hub" link add "$P-vxchk" type vxlan id 4242 dstport 4789 2>/dev/null \
      || die "cannot create a vxlan interface; overlay networks need the vxlan kernel module"
  fi
  ip -n "$P-hub" link del "$P-vxchk"
}

node_net_up() {   # netns bgm-nK with eth0 = $NET.K on the hub bridge; idempotent
  local k=$1 ns="$P-n$1"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip link add "$ns-p" netns "$P-hub" type veth peer name eth0 netns "$ns"
    ip -n "$ns" addr add "$NET.$k/24" dev eth0
  fi
  ip -n "$P-hub" link set "$ns-p" master "$P-br0" up
  ip -n "$ns" link set eth0 up
}

node_start() {   # start dockerd for node K unless it runs; wait until its API answers
  local k=$1 d="$STATE/n$1" r="$RUN/n$1"
  # /run/bgm/bgm-nK -> nK: a stack can mount each node's own socket with the swarm template
  # /run/bgm/{{.Node.Hostname}}/docker.sock (the node's hostname is bgm-nK).
  ln -sfn "n$k" "$RUN/$P-n$k"
  if [ -n "$(node_pid "$k")" ] && dk "$k" version >/dev/null 2>&1; then return 0; fi
  [ -z "$(node_pid "$k")" ] || die "node$k: dockerd (pid $(node_pid "$k")) runs but its API does not answer; run '$ME down' first"
  mkdir -p "$d/data" "$d/etc-docker" "$r/exec" "$r/cg"
  echo '{}' >"$d/daemon.json"
  rm -f "$r/docker.sock" "$r/dockerd.pid"
  # Inner script, run in the node's netns and in a private mount namespace (mounts stay private):
  #  - a fresh sysfs so /sys/class/net shows this netns, with the cgroup mounts carried over
  #    (`ip netns exec` also remounts /sys but loses /sys/fs/cgroup: dockerd then fails with
  #    "Devices cgroup isn't mounted");
  #  - a private /etc/docker so each engine gets its own key.json (engine ID);
  #  - its own UTS namespace, hostname bgm-nK, so `docker node ls`/`service ps` tell the nodes apart.
  local inner
  inner="set -e
echo '$P-n$k' >/proc/sys/kernel/hostname
mount --rbind /sys/fs/cgroup '$r/cg'
umount -l /sys
mount -t sysfs sysfs /sys
mount --rbind '$r/cg' /sys/fs/cgroup
umount -l '$r/cg'
if [ -d /etc/docker ]; then mount --bind '$d/etc-docker' /etc/docker; fi
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
exec dockerd --config-file '$d/daemon.json' --data-root '$d/data' --exec-root '$r/exec' \
  -H 'unix://$r/docker.sock' --pidfile '$r/dockerd.pid' --cgroup-parent '/$P-n$k' \
  --containerd-namespace '$P-n$k' --containerd-plugins-namespace '$P-n$k-plugins' \
  --swarm-default-advertise-addr '$NET.$k' --shutdown-timeout 5"
  setsid nsenter --net="/run/netns/$P-n$k" -- unshare --mount --uts --propagation slave -- sh -c "$inner" \
    </dev/null >>"$d/dockerd.log" 2>&1 &
  local lpid=$! deadline=$((SECONDS + TIMEOUT))   # nothing in the chain forks: $! becomes dockerd
  until dk "$k" version >/dev/null 2>&1; do
    if ! kill -0 "$lpid" 2>/dev/null; then
      log "last lines of $d/dockerd.log:"; tail -n 15 "$d/dockerd.log" >&2
      die "node$k: dockerd exited during start-up"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "last lines of $d/dockerd.log:"; tail -n 15 "$d/dockerd.log" >&2
      die "node$k: dockerd API on $(sock "$k") did not answer within ${TIMEOUT}s (pid $lpid still runs; '$ME down' stops it)"
    fi
    sleep 0.25
  done
}

swarm_state() { dk "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

swarm_form() {   # node 1 inits, the others join; idempotent
  local n=$1 k role token state
  state=$(swarm_state 1)
  if [ "$state" != active ]; then
    [ "$state" = inactive ] || die "node1: swarm state is '$state'; run '$ME down' and 'up' again"
    dk 1 swarm init --advertise-addr "$NET.1" --listen-addr "$NET.1:2377" \
      --default-addr-pool "$POOL" --default-addr-pool-mask-length 24 >/dev/null \
      || die "node1: docker swarm init failed (see $STATE/n1/dockerd.log)"
  fi
  [ "$(dk 1 info --format '{{.Swarm.ControlAvailable}}')" = true ] || die "node1 is in the swarm but is not a manager"
  for k in $(seq 2 "$n"); do
    state=$(swarm_state "$k")
    [ "$state" = active ] && continue
    [ "$state" = inactive ] || die "node$k: swarm state is '$state'; run '$ME down' and 'up' again"
    role=worker; [ "$k" -le "$MANAGERS" ] && role=manager
    token=$(dk 1 swarm join-token -q "$role") || die "node1: cannot read the $role join token"
    dk "$k" swarm join --token "$token" --advertise-addr "$NET.$k" --listen-addr "$NET.$k:2377" "$NET.1:2377" >/dev/null \
      || die "node$k: docker swarm join as $role failed (see $STATE/n$k/dockerd.log)"
  done
  # all N nodes Ready in the manager's view
  if ! wait_for "$TIMEOUT" "$n nodes Ready on the manager" \
      sh -c "[ \"\$(docker -H unix://$(sock 1) node ls --format '{{.Status}}' | grep -c '^Ready\$')\" -ge $n ]"; then
    dk 1 node ls >&2 || true
    die "not all $n nodes became Ready"
  fi
}

cmd_up() {
  local n=${1:-3} k t0=$SECONDS
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 20 ]; then die "up: N must be 1..20, got '$n'"; fi
  if ! [[ "$MANAGERS" =~ ^[0-9]+$ ]] || [ "$MANAGERS" -lt 1 ]; then die "BGM_MANAGERS must be >= 1, got '$MANAGERS'"; fi
  need_root; need_cmds
  mkdir -p "$STATE" "$RUN"
  net_up
  for k in $(seq 1 "$n"); do node_net_up "$k"; node_start "$k"; done
  swarm_form "$n"
  log "up: $n node(s) ready in $((SECONDS - t0))s"
  for k in $(seq 1 "$n"); do echo "node$k DOCKER_HOST=unix://$(sock "$k")"; done
}

cmd_env() {
  local k=${1:-1}
  [ -S "$(sock "$k")" ] || die "node$k is not up (no $(sock "$k")); run '$ME up' first"
  echo "export DOCKER_HOST=unix://$(sock "$k")"
}

cmd_status() {
  local k pid
  for k in $(existing_nodes); do
    pid=$(node_pid "$k")
    if [ -n "$pid" ]; then
      echo "node$k pid=$pid addr=$NET.$k swarm=$(swarm_state "$k") manager=$(dk "$k" info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null) DOCKER_HOST=unix://$(sock "$k")"
    else
      echo "node$k not running (leftover state; '$ME down' cleans it)"
    fi
  done
}

cmd_load() {
  [ $# -ge 1 ] || die "usage: $ME load IMAGE [IMAGE...]"
  need_root
  local nodes k img
  nodes=$(for k in $(existing_nodes); do [ -n "$(node_pid "$k")" ] && echo "$k"; done)
  [ -n "$nodes" ] || die "no node is running; run '$ME up' first"
  for img in "$@"; do
    docker -H "$MAIN" image inspect "$img" >/dev/null 2>&1 || die "image '$img' is not on the main engine ($MAIN)"
  done
  LOAD_TMP=$(mktemp "/tmp/$P-load.XXXXXX.tar")
  trap 'rm -f "${LOAD_TMP:-}"' EXIT
  docker -H "$MAIN" save -o "$LOAD_TMP" "$@" || die "docker save $* (from $MAIN) failed"
  for k in $nodes; do
    dk "$k" load -q -i "$LOAD_TMP" >/dev/null || die "node$k: docker load failed"
    log "load: $* -> node$k"
  done
}

kill_pids() {   # SIGTERM, wait up to $1 s, then SIGKILL, for the given pids
  local secs=$1; shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local deadline=$((SECONDS + secs)) p alive
  while :; do
    alive=""; for p in "$@"; do [ -d "/proc/$p" ] && alive="$alive $p"; done
    [ -n "$alive" ] || return 0
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -KILL $alive 2>/dev/null || true
}

cgroup_dirs() { ls -d /sys/fs/cgroup/"$P-n$1" /sys/fs/cgroup/*/"$P-n$1" 2>/dev/null || true; }

cmd_crash() {   # node K dies at once: no graceful stop of anything on it
  local k=${1:-} pids d
  [[ "$k" =~ ^[0-9]+$ ]] || die "usage: $ME crash K"
  need_root
  [ -n "$(node_pid "$k")" ] || die "node$k is not running"
  pids=$( { node_pid "$k"; ip netns pids "$P-n$k" 2>/dev/null || true
            for d in $(cgroup_dirs "$k"); do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done; } | sort -un)
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  log "crash: node$k: SIGKILL to ${pids//$'\n'/ }"
}

cmd_down() {
  need_root
  local k pid pids="" d nodes
  nodes=$(existing_nodes)
  for k in $nodes; do   # stop the engines together (each stops its containers and its containerd)
    pid=$(node_pid "$k")
    [ -z "$pid" ] || { log "down: stopping node$k dockerd (pid $pid)"; pids="$pids $pid"; }
  done
  # shellcheck disable=SC2086
  kill_pids 30 $pids
  for k in $nodes; do
    # leftovers: processes in the node's netns (containerd, shims) and in its cgroups (containers)
    pids=$( { ip netns pids "$P-n$k" 2>/dev/null || true
              for d in $(cgroup_dirs "$k"); do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done; } | sort -un)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || { log "down: node$k leftover pids: ${pids//$'\n'/ }"; kill_pids 10 $pids; }
    for d in $(cgroup_dirs "$k"); do find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
    ip netns list | grep -qw "$P-n$k" && ip netns del "$P-n$k"
  done
  ip link show "$P-host" >/dev/null 2>&1 && ip link del "$P-host"
  ip netns list | grep -qw "$P-hub" && ip netns del "$P-hub"
  rm -rf "$STATE" "$RUN"
  # containerd shims put sockets in /run/containerd/s; remove the dirs only if they are empty
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true
  local left=""
  for k in $nodes; do [ -z "$(cgroup_dirs "$k")" ] || left="$left cgroup:$P-n$k"; done
  ip netns list | grep -q "^$P-" && left="$left netns"
  [ -z "$left" ] || die "down: could not remove:$left"
  log "down: done"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  load) shift; cmd_load "$@" ;;
  env) shift; cmd_env "$@" ;;
  status) cmd_status ;;
  crash) shift; cmd_crash "$@" ;;
  *) echo "usage: $ME up [N] | down | load IMAGE... | env [K] | status | crash K" >&2; exit 2 ;;
esac
