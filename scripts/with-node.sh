#!/usr/bin/env bash
# Runs a command with Node >= 22.19 on PATH (installing Node 24 from npm when the machine's is older).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
eval "$("$here/ensure-node.sh")"
exec "$@"
