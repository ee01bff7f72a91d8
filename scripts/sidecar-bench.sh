#!/usr/bin/env bash
# sidecar-bench.sh measures `keyroll listen --upstream` end to end as a user would: wrk (2
# threads, 32 connections) posts signed deliveries through the sidecar and, alternately in the
# same run, through a bare httputil.ReverseProxy to the same upstream (cmd/hostile). Plain HTTP
# on 127.0.0.1. It prints requests/s and CPU per request of each round and the ratio of the
# medians. `make bench` runs it after the driver.
#
# Usage: sidecar-bench.sh KEYROLL_BINARY [ROUNDS] [SECONDS]
#   It starts a Vault dev server (scripts/vault-bin.sh) holding one key document, unless
#   SIDECAR_CONFIG (a config whose only target's document holds SIDECAR_KEY; token from
#   VAULT_TOKEN) is given. SIDECAR_PROFILE=file adds --cpu-profile to the sidecar;
#   SIDECAR_ARGS replaces its extra flags (default: --max-conns-per-source -1).
set -euo pipefail
kr=$(realpath "$1") rounds=${2:-3} secs=${3:-10}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || {
  echo "sidecar-bench: installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >&2; else sudo apt-get install -y -qq wrk >&2; fi
}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
go build -o "$dir/hostile" ./cmd/hostile
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config=${SIDECAR_CONFIG:-} key=${SIDECAR_KEY:-}
if [ -z "$config" ]; then
  vport=$(free_port)
  "$(scripts/vault-bin.sh)" server -dev -dev-root-token-id=sidecar-bench -dev-listen-address="127.0.0.1:$vport" >"$dir/vault.log" 2>&1 &
  pids+=($!)
  export VAULT_TOKEN=sidecar-bench
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$vport/v1/sys/health" && break; sleep 0.1; done
  key=$(head -c 64 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 48)
  curl -sf -H "X-Vault-Token: $VAULT_TOKEN" -d "{\"data\":{\"current\":\"$key\",\"current_since\":\"2026-01-01T00:00:00Z\"}}" \
    "http://127.0.0.1:$vport/v1/secret/data/keyroll/sidecar-bench" >/dev/null
  config=$dir/config.yaml; export SIDECAR_BENCH_UNUSED=unused
  cat >"$config" <<YAML
vault: {address: "http://127.0.0.1:$vport", kv_mount: secret, auth: {method: token}}
certcentral: {api_key_env: SIDECAR_BENCH_UNUSED}
listener: {refresh: 30s, max_staleness: 90s}
targets: [{name: bench, vault_path: keyroll/sidecar-bench}]
YAML
fi
start() { # start NAME CMD...: runs CMD, waits for the address it prints first (in $dir/NAME.out)
  local name=$1; shift
  "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
  for _ in $(seq 1 200); do [ -s "$dir/$name.out" ] && break; sleep 0.05; done
}
start upstream "$dir/hostile" upstream; up=$(head -n1 "$dir/upstream.out")
start bare "$dir/hostile" bare-proxy -upstream "http://$up"; bare=$(head -n1 "$dir/bare.out"); bare_pid=${pids[-1]}
port=$(free_port)
prof=()
[ -n "${SIDECAR_PROFILE:-}" ] && prof=(--cpu-profile "$SIDECAR_PROFILE")
"$kr" listen --config "$config" --addr "127.0.0.1:$port" --upstream "http://$up" ${SIDECAR_ARGS---max-conns-per-source -1} \
  --log-level warn "${prof[@]}" 2>"$dir/sidecar.err" &
pids+=($!); sidecar_pid=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"event":"certificate_issued","data":{"order_id":12345,"certificate_id":23456}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-WEBHOOK-KEY"] = "$key"
LUA
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user+sys clock ticks
tck=$(getconf CLK_TCK)
# rps URL PID: requests/s of one wrk run, and PID's CPU microseconds per request (to stderr)
rps() {
  local c0 out r c1
  c0=$(cpu "$2")
  out=$(wrk -t2 -c32 -d"${secs}s" -s "$dir/post.lua" "$1")
  c1=$(cpu "$2")
  if grep -q Non-2xx <<<"$out"; then echo "sidecar-bench: non-2xx answers from $1" >&2; fi
  r=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  awk -v c="$((c1 - c0))" -v t="$tck" -v n="$(awk '/requests in/ {print $1}' <<<"$out")" 'BEGIN {printf "%.1f\n", c / t * 1e6 / n}' >"$dir/cpu.last"
  echo "$r"
}
rps "http://127.0.0.1:$port/hook" "$sidecar_pid" >/dev/null; rps "http://$bare/hook" "$bare_pid" >/dev/null # warm up
s=() b=()
for i in $(seq 1 "$rounds"); do
  s+=("$(rps "http://127.0.0.1:$port/hook" "$sidecar_pid")"); sc=$(cat "$dir/cpu.last")
  b+=("$(rps "http://$bare/hook" "$bare_pid")"); bc=$(cat "$dir/cpu.last")
  echo "round $i: sidecar ${s[-1]} req/s (${sc} µs CPU per request), bare reverse proxy ${b[-1]} req/s (${bc} µs)"
done
python3 - "${s[@]}" -- "${b[@]}" <<'PY'
import sys, statistics
a = sys.argv[1:]; i = a.index("--"); s = list(map(float, a[:i])); b = list(map(float, a[i+1:]))
print(f"median: sidecar {statistics.median(s):.0f} req/s, bare {statistics.median(b):.0f} req/s, ratio {statistics.median(s)/statistics.median(b):.2f}x")
PY
