#!/usr/bin/env bash
# Makes sure a Docker Engine answers `docker info`, installing and starting one when needed.
# Idempotent: exits 0 at once when the engine already answers.
#
#  - no dockerd and root on Debian: apt-get install docker.io (Engine 20.10, API 1.41)
#  - starts dockerd in the background (own session, survives this shell), log in $DOCKERD_LOG
#  - storage driver: the default first (overlay2 on ext4); vfs only when the default fails
#  - waits up to $DOCKERD_WAIT_S (60) seconds for `docker info`
#  - makes sure a compose command works (`docker compose` or `docker-compose`; installs Debian's
#    docker-compose when neither does) and prints which one on stdout as `compose: <command>`
#
# Exits 1, with the tail of the dockerd log, when the engine cannot be started: CI must fail,
# not skip, when Docker is missing.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/bluegreen-dockerd.log}
DOCKERD_WAIT_S=${DOCKERD_WAIT_S:-60}
# Extra flags for dockerd, e.g. DOCKERD_FLAGS="--storage-driver=vfs" to force one.
DOCKERD_FLAGS=${DOCKERD_FLAGS:-}

say() { echo "ensure-docker: $*" >&2; }
die() { say "$*"; exit 1; }

docker_ok() { timeout 15 docker info >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

APT_LOG=${APT_LOG:-/var/log/bluegreen-apt.log}
apt_updated=0
apt_install() { # quiet: the full output goes to $APT_LOG, its tail to stderr on failure
  mkdir -p "$(dirname "$APT_LOG")"
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$APT_LOG" 2>&1 ||
      { tail -n 30 "$APT_LOG" >&2; die "apt-get update failed (log: $APT_LOG)"; }
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$APT_LOG" 2>&1 ||
    { tail -n 30 "$APT_LOG" >&2; die "apt-get install $* failed (log: $APT_LOG)"; }
}

# The dockerd log since the last start of ours, at most $1 lines.
log_tail() { awk '/^=== .* ensure-docker: starting dockerd/ { n = 0 } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }' "$DOCKERD_LOG" 2>/dev/null | tail -n "$1" >&2 || true; }

dockerd_pids() { pgrep -x dockerd || true; }

# Waits for `docker info` while the given dockerd pid lives. Returns 0 when it answers.
wait_for_engine() {
  local pid=$1 deadline=$((SECONDS + DOCKERD_WAIT_S))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if docker_ok; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.5
  done
  return 1
}

start_dockerd() {
  # $@: extra flags. Starts dockerd detached in its own session; prints its pid.
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  {
    echo "=== $(date -Is) ensure-docker: starting dockerd $DOCKERD_FLAGS $*"
  } >>"$DOCKERD_LOG"
  # shellcheck disable=SC2086
  setsid nohup dockerd $DOCKERD_FLAGS "$@" </dev/null >>"$DOCKERD_LOG" 2>&1 &
  echo $!
}

stop_dockerd() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  # A supervised containerd may linger on its socket; dockerd cleans it up on next start.
}

ensure_engine() {
  if docker_ok; then return 0; fi

  if ! command -v dockerd >/dev/null; then
    if is_root && is_debian; then
      say "dockerd is not installed: installing Debian's docker.io (apt-get)"
      apt_install docker.io
    else
      die "dockerd is not installed and this is not root on Debian; install Docker Engine first"
    fi
  fi
  command -v dockerd >/dev/null || die "docker.io installed but no dockerd on PATH"
  command -v docker >/dev/null || die "no docker client on PATH"

  local running
  running=$(dockerd_pids)
  if [ -n "$running" ]; then
    # A dockerd is already starting (another process called us): give it the time to answer.
    say "dockerd already running (pid $running); waiting for it"
    if wait_for_engine "$(echo "$running" | head -n1)"; then return 0; fi
    die "dockerd (pid $running) is running but does not answer; see $DOCKERD_LOG"
  fi

  is_root || die "dockerd is not running and only root can start it here"

  local pid
  say "starting dockerd (log: $DOCKERD_LOG)"
  pid=$(start_dockerd)
  if wait_for_engine "$pid"; then
    say "dockerd up (pid $pid, storage driver $(docker info --format '{{.Driver}}' 2>/dev/null))"
    return 0
  fi

  # The default storage driver (overlay2) may be refused by the filesystem under
  # /var/lib/docker (e.g. overlay on overlay). vfs always works, only slower and larger.
  if [[ "$DOCKERD_FLAGS" != *storage-driver* ]]; then
    say "dockerd did not come up with the default storage driver; retrying with --storage-driver=vfs"
    log_tail 8
    stop_dockerd "$pid"
    pid=$(start_dockerd --storage-driver=vfs)
    if wait_for_engine "$pid"; then
      say "dockerd up (pid $pid, storage driver vfs)"
      return 0
    fi
  fi

  say "Docker Engine could not be started. Tail of $DOCKERD_LOG:"
  log_tail 40
  exit 1
}

compose_cmd() {
  if timeout 15 docker compose version >/dev/null 2>&1; then echo "docker compose"; return 0; fi
  if command -v docker-compose >/dev/null && timeout 30 docker-compose version >/dev/null 2>&1; then
    echo "docker-compose"; return 0
  fi
  return 1
}

ensure_compose() {
  local c
  if c=$(compose_cmd); then echo "compose: $c"; return 0; fi
  if is_root && is_debian; then
    say "neither 'docker compose' nor 'docker-compose' works: installing Debian's docker-compose"
    apt_install docker-compose
    if c=$(compose_cmd); then echo "compose: $c"; return 0; fi
  fi
  die "no working compose command ('docker compose' or 'docker-compose')"
}

ensure_engine
ensure_compose
