#!/usr/bin/env bash
# bench.sh is `make bench`: it builds keyroll and the benchmark driver (bench/), finds the
# cached Vault server (scripts/vault-bin.sh), and runs the driver, which starts Vault dev,
# `keyroll simulate` and a webhook listener on 127.0.0.1, measures keyroll against them and
# against bench/manual-rotation.sh, and prints a Markdown report (also saved as
# cmd/bench/out/report.md). Every process it starts is stopped on exit. Takes about 6 minutes
# on 2 cores, most of it the 500-target fleet on one API key, which DigiCert's
# 1000-requests-per-3-minutes limit holds to about 225 s.
#
# Then it measures the `keyroll listen --upstream` sidecar end to end with wrk against a bare
# reverse proxy (scripts/sidecar-bench.sh; SIDECAR_ROUNDS, SIDECAR_SECONDS).
#
# Environment: BENCH_ARGS adds driver flags (e.g. BENCH_ARGS='-one-key 10,100 -runs 5' for
# a quicker run; see `go run ./cmd/bench -h`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/cmd/bench/out"
mkdir -p "$out"

need=()
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && apt-get install -y -qq "${need[@]}" >&2
  else sudo apt-get update -qq >&2 && sudo apt-get install -y -qq "${need[@]}" >&2; fi
fi

driver_pid=
cleanup() {
  if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    wait "$driver_pid" 2>/dev/null || true
  fi
  rm -f "$out/report.md.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building keyroll and the driver" >&2
CGO_ENABLED=0 go build -trimpath -o "$out/keyroll" .
go build -o "$out/bench" ./cmd/bench
vault_bin=$(scripts/vault-bin.sh)

# shellcheck disable=SC2086
"$out/bench" -keyroll "$out/keyroll" -vault "$vault_bin" -out "$out" -manual "$root/cmd/bench/manual-rotation.sh" \
  -repo "$root" ${BENCH_ARGS:-} >"$out/report.md.tmp" &
driver_pid=$!
wait "$driver_pid"
driver_pid=
{
  echo
  echo "## The sidecar end to end (scripts/sidecar-bench.sh: wrk -t2 -c32, alternating with a bare httputil.ReverseProxy)"
  echo
  echo '```'
  scripts/sidecar-bench.sh "$out/keyroll" "${SIDECAR_ROUNDS:-5}" "${SIDECAR_SECONDS:-10}" 2>&1 | grep -E '^(round|median|sidecar-bench)'
  echo '```'
} >>"$out/report.md.tmp"
mv "$out/report.md.tmp" "$out/report.md"
cat "$out/report.md"
