#!/usr/bin/env bash
# prometheus-tools.sh makes sure the Prometheus tools keyroll's tests use are installed:
# promtool (Debian package prometheus) for the alert-rule unit tests and the Pushgateway
# (Debian package prometheus-pushgateway) for the push test. Missing ones are installed
# with apt-get when running as root (as CI does); otherwise it says what is missing and
# the tests that need them skip, except under CI=true, where they fail.
set -euo pipefail
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-pushgateway >/dev/null || command -v pushgateway >/dev/null || need+=(prometheus-pushgateway)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${need[*]} (Debian packages; first run on this machine only)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
  exit 0
fi
echo "prometheus-tools.sh: missing ${need[*]}: install the Debian packages of that name (apt-get install ${need[*]})" >&2
