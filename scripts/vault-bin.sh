#!/usr/bin/env bash
# vault-bin.sh prints the path of the Vault server binary keyroll's integration tests run,
# building it from the Go module proxy on first use and caching it by version outside the
# repository (first build: about 6 minutes on 2 cores; afterwards: instant).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(awk '($1 == "github.com/hashicorp/vault" && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == "github.com/hashicorp/vault") {print $3; exit}' "$root/tools/vault/go.mod")
version=${version#v}
cache=${KEYROLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyroll}
bin="$cache/vault-$version/vault"
if [ ! -x "$bin" ]; then
  echo "building vault $version into $bin (first run on this machine only)" >&2
  mkdir -p "$(dirname "$bin")"
  tmp="$bin.tmp.$$"
  (cd "$root/tools/vault" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp" github.com/hashicorp/vault) >&2
  mv -f "$tmp" "$bin"
fi
echo "$bin"
