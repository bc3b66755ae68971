#!/bin/sh
# A release of one container behind bluegreen with plain docker and curl: start the new container,
# wait until the proxy routes to it, then stop the old one and wait until the proxy has drained
# and dropped it. Without the waits, the old container can stop before the new one is ready.
#   examples/deploy.sh SERVICE IMAGE [docker run options...]
#   examples/deploy.sh web my-app:2 -l bluegreen.hosts=web.example.com -l bluegreen.healthcheck.path=/health
set -eu
service=$1 image=$2
shift 2
admin=${BLUEGREEN_ADMIN:-http://127.0.0.1:9901}
wait_for() { # GET /api/wait: prints the proxy's JSON answer; fails (exit 22) with the reason in it
  curl --fail-with-body -sS -w '\n' ${BLUEGREEN_ADMIN_TOKEN:+-H "Authorization: Bearer $BLUEGREEN_ADMIN_TOKEN"} "$admin/api/wait?$1"
}
old=$(docker ps -q --no-trunc --filter "label=bluegreen.service=$service")
new=$(docker run -d -l "bluegreen.service=$service" "$@" "$image")
if ! wait_for "container=$new&timeout=60s&fail=rejected,stopped"; then
  docker rm -f "$new" >/dev/null # never routed: the old container kept serving
  exit 1
fi
for id in $old; do
  docker stop "$id" >/dev/null # the proxy drains it from the stop signal on
  wait_for "container=$id&state=gone&timeout=60s"
  docker rm "$id" >/dev/null
done
