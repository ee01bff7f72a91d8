#!/usr/bin/env bash
# tool-bin.sh TOOL prints the path of a server or client binary keyroll's tests run, building
# it from the Go module proxy on first use and caching it by version outside the repository
# (afterwards: instant). Each tool is pinned by its own module under tools/:
#
#   vault           tools/vault           the Vault server (first build: about 6 minutes on 2 cores)
#   kube-apiserver  tools/kube-apiserver  the Kubernetes API server (about 7 minutes)
#   helm            tools/helm            the Helm client (about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tool=${1:?usage: tool-bin.sh vault|kube-apiserver|helm}
case $tool in
  vault) module=github.com/hashicorp/vault pkg=github.com/hashicorp/vault ;;
  kube-apiserver) module=k8s.io/kubernetes pkg=k8s.io/kubernetes/cmd/kube-apiserver ;;
  helm) module=helm.sh/helm/v3 pkg=helm.sh/helm/v3/cmd/helm ;;
  *) echo "tool-bin.sh: unknown tool $tool" >&2; exit 2 ;;
esac
dir="$root/tools/$tool"
version=$(awk -v m="$module" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$dir/go.mod")
version=${version#v}
cache=${KEYROLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyroll}
bin="$cache/$tool-$version/$tool"
if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$bin")"
  # One build per tool at a time: a second caller (parallel test packages, two checkouts)
  # waits for the first one's binary instead of building it again beside it.
  exec 9>"$bin.lock"
  if command -v flock >/dev/null; then
    flock 9 || true
  fi
  if [ ! -x "$bin" ]; then
    echo "building $tool $version into $bin (first run on this machine only)" >&2
    tmp="$bin.tmp.$$"
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp" "$pkg") >&2
    mv -f "$tmp" "$bin"
  fi
  exec 9>&-
fi
echo "$bin"
