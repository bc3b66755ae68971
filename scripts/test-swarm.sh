#!/usr/bin/env bash
# `npm run test:swarm`: the end-to-end tests on a real multi-node Docker Swarm (test/e2e/multinode):
# builds the test app image (scripts/build-images.sh) and the proxy image from the working tree
# (scripts/build-proxy-image.sh, tagged bluegreen/bluegreen:multinode), then runs each test file;
# each brings up the swarm it needs with test/e2e/multinode/swarm-nodes.sh (extra engines in network
# namespaces: needs root), loads the images into every node and takes the swarm down at the end.
# The swarm is taken down here too, whatever happened. About 5 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
eval "$(scripts/ensure-node.sh)"
[ "$(id -u)" = 0 ] || { echo "test:swarm: needs root (network namespaces and extra dockerd processes)" >&2; exit 1; }
scripts/ensure-docker.sh
scripts/build-images.sh
TAG=bluegreen/bluegreen:multinode scripts/build-proxy-image.sh >/dev/null
trap 'bash test/e2e/multinode/swarm-nodes.sh down >/dev/null 2>&1 || true' EXIT
mapfile -t files < <(find test/e2e/multinode -name '*.test.ts' | sort)
node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
