#!/usr/bin/env bash
# etcd-bin.sh prints the path of the etcd server the Kubernetes tests run under the API
# server: Debian's etcd-server package, installed when it is missing and this runs as root
# with apt-get (as CI does). Nothing is printed when there is no etcd and it cannot be
# installed; the tests then skip, or fail under CI=true.
set -euo pipefail
if ! command -v etcd >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's etcd-server (for the Kubernetes API server tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends etcd-server >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends etcd-server >&2; }
fi
command -v etcd || true
