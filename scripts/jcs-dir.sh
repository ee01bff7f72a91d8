#!/usr/bin/env bash
# jcs-dir.sh prints the node_modules directory of tools/jcs: an independent RFC 8785 (JCS)
# implementation, installed with npm from tools/jcs/package-lock.json on first use and
# cached by its lock file's hash outside the repository. The evidence tests compare
# keyroll's canonical encoding with it (KEYROLL_JCS_NODE_PATH).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v node >/dev/null && command -v npm >/dev/null || { echo "jcs-dir.sh: node and npm are required" >&2; exit 2; }
sum=$(sha256sum "$root/tools/jcs/package-lock.json" | cut -c1-12)
cache=${KEYROLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyroll}
dir="$cache/jcs-$sum"
if [ ! -d "$dir/node_modules/canonicalize" ]; then
  mkdir -p "$dir"
  cp "$root/tools/jcs/package.json" "$root/tools/jcs/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >&2)
fi
echo "$dir/node_modules"
