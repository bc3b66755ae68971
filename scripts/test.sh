#!/usr/bin/env bash
# The project's test command (`npm test`): installs what a fresh machine lacks (Node 24, the npm
# dependencies, and for the end-to-end suite Debian's Docker Engine), type-checks, runs the unit
# and loopback tests, then the end-to-end tests against a real Docker Engine. Docker that cannot be
# started is a failure, never a skip.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n=== %s\n' "$*"; }

step "node"
eval "$(scripts/ensure-node.sh)"
node --version

step "npm dependencies"
scripts/ensure-deps.sh

step "typecheck"
npx tsc --noEmit -p . 2>&1 | grep -v 'Unknown user config "nodedir"' ; test "${PIPESTATUS[0]}" -eq 0

step "lint (no-floating-promises, no-misused-promises)"
npx eslint . 2>&1 | grep -v 'Unknown user config "nodedir"' ; test "${PIPESTATUS[0]}" -eq 0

step "chromium (dashboard browser test)"
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "chromium is missing: apt-get install -y chromium" >&2; exit 1; }

mapfile -t unit < <(find test -name '*.test.ts' -not -path 'test/e2e/*' | sort)
step "unit and loopback tests (${#unit[@]} files)"
node --test --test-concurrency=2 --test-timeout=120000 "${unit[@]}"

# test/e2e/multinode runs in its own step below (npm run test:swarm).
mapfile -t e2e < <(find test/e2e -name '*.test.ts' -not -path 'test/e2e/multinode/*' 2>/dev/null | sort)
if [ "${#e2e[@]}" -gt 0 ]; then
  step "docker engine"
  scripts/ensure-docker.sh
  step "images"
  scripts/build-images.sh
  step "end-to-end tests on the Docker Engine (${#e2e[@]} files)"
  node --test --test-concurrency=1 --test-timeout=600000 "${e2e[@]}"
  step "soak, 60-second form (npm run soak runs 10 minutes)"
  node bench/soak.ts --duration 60
  step "deploy benchmark, quick form: one deploy per case through bluegreen; exits 1 on a missed target (npm run bench:deploy runs the full one)"
  node bench/deploy.ts --quick
fi

step "end-to-end tests on a real multi-node swarm (npm run test:swarm)"
scripts/test-swarm.sh
