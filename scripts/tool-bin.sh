#!/usr/bin/env bash
# tool-bin.sh TOOL prints the path of a server or client binary keyroll's tests run, building
# it from the Go module proxy on first use and caching it by version outside the repository
# (afterwards: instant). Each tool is pinned by its own module under tools/. First builds,
# measured on 2 cores from empty Go caches, module downloads included:
#
#   vault            tools/vault            the Vault server (about 16 minutes)
#   kube-apiserver   tools/kube-apiserver   the Kubernetes API server (about 12 minutes)
#   helm             tools/helm             the Helm client (about 2 minutes)
#   cyclonedx-gomod  tools/cyclonedx-gomod  the image's SBOM generator (about 3 minutes)
#
# A first build shows its progress on stderr: packages compiled out of the total (from
# `go list -deps`), the time elapsed and a rough time left; one updating line on a terminal,
# a line every 30 seconds otherwise (CI logs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tool=${1:?usage: tool-bin.sh vault|kube-apiserver|helm|cyclonedx-gomod}
case $tool in
  vault) module=github.com/hashicorp/vault pkg=github.com/hashicorp/vault ;;
  kube-apiserver) module=k8s.io/kubernetes pkg=k8s.io/kubernetes/cmd/kube-apiserver ;;
  helm) module=helm.sh/helm/v3 pkg=helm.sh/helm/v3/cmd/helm ;;
  cyclonedx-gomod) module=github.com/CycloneDX/cyclonedx-gomod pkg=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod ;;
  *) echo "tool-bin.sh: unknown tool $tool" >&2; exit 2 ;;
esac
dir="$root/tools/$tool"
version=$(awk -v m="$module" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$dir/go.mod")
version=${version#v}
cache=${KEYROLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyroll}
bin="$cache/$tool-$version/$tool"

# duration SECONDS prints 75 as 1m15s.
duration() { if [ "$1" -ge 60 ]; then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi; }

# progress WHAT TOTAL reads `go build -v` output (one package path per compiled package),
# passes every other line (compiler errors) through to stderr, and reports how far the build
# is: on a terminal one line rewritten every second, otherwise a line every 30 seconds.
progress() {
  local what=$1 total=$2 done=0 start=$SECONDS last=-30 line now left msg tty=
  [ -t 2 ] && tty=1
  while :; do
    if IFS= read -r -t 1 line; then
      if [[ $line =~ ^[A-Za-z0-9._~/+-]+$ ]]; then done=$((done + 1)); else printf '%s\n' "$line" >&2; fi
    elif [ $? -le 128 ]; then
      break # end of output (a timeout returns more than 128)
    fi
    now=$SECONDS
    [ -n "$tty" ] && [ $now -eq $last ] && continue
    [ -z "$tty" ] && [ $((now - last)) -lt 30 ] && continue
    last=$now
    left="estimating time left"
    if [ $done -ge $total ]; then left="linking"
    elif [ $done -ge 20 ]; then left="about $(duration $(((now - start) * (total - done) / done))) left"
    fi
    msg="building $what: $done/$total packages, $(duration $((now - start))) elapsed, $left"
    if [ -n "$tty" ]; then printf '\r%s\033[K' "$msg" >&2; else printf '%s\n' "$msg" >&2; fi
  done
  [ -n "$tty" ] && printf '\n' >&2
  return 0
}

if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$bin")"
  # One build per tool at a time: a second caller (parallel test packages, two checkouts)
  # waits for the first one's binary instead of building it again beside it.
  exec 9>"$bin.lock"
  if command -v flock >/dev/null; then
    flock 9 || true
  fi
  if [ ! -x "$bin" ]; then
    echo "building $tool $version into $bin (first run on this machine only; downloading modules)" >&2
    tmp="$bin.tmp.$$"
    total=$(cd "$dir" && go list -deps "$pkg" | wc -l)
    (cd "$dir" && CGO_ENABLED=0 go build -v -trimpath -ldflags='-s -w' -o "$tmp" "$pkg") 2>&1 |
      progress "$tool $version" "$total"
    mv -f "$tmp" "$bin"
  fi
  exec 9>&-
fi
echo "$bin"
