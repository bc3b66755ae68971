#!/usr/bin/env bash
# Makes node_modules match package-lock.json (npm ci), skipping the install when it already does.
# Needs Node >= 22.19 on PATH (scripts/ensure-node.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
stamp=node_modules/.bluegreen-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "node_modules matches package-lock.json"
  exit 0
fi
npm ci --no-audit --no-fund 2>&1 | grep -v 'Unknown user config "nodedir"' || true
[ -d node_modules/undici ] || { echo "npm ci failed: see the messages above (the npm registry must be reachable)" >&2; exit 1; }
echo "$want" > "$stamp"
