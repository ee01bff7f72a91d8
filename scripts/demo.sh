#!/usr/bin/env bash
# demo.sh is the README's "run the main job" command (`make demo`): it builds keyroll,
# starts a throwaway Vault dev server (built and cached on first use), the CertCentral
# simulator and the reference listener on loopback, runs a first rotation of the webhook
# secret and of the DigiCert API key (kept in Vault, read from there by the webhook target),
# a forced second webhook rotation, and once the API key's short overlap has passed a run
# that revokes the old API key; shows where both targets stand and the evidence (signed with
# Vault Transit and anchored in Vault, verified), the metrics a Pushgateway
# received from each run and the notifications a local receiver got, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.demo"
rm -rf "$demo"
mkdir -p "$demo"
chmod 700 "$demo"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-60000 -n 1; }

wait_for() { # wait_for URL
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "demo: $1 did not come up" >&2
  exit 1
}

missing=()
for tool in curl jq; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: installing ${missing[*]}" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2
  else sudo apt-get update -qq >&2 && sudo apt-get install -y -qq "${missing[@]}" >&2; fi
fi

say "building keyroll and finding the Vault server"
make -s build && cp bin/keyroll "$demo/keyroll" # stamped with VERSION and the revision, as a release is
vault_bin=$(scripts/vault-bin.sh)
kr="$demo/keyroll"

scripts/prometheus-tools.sh || true
pushgateway=$(command -v prometheus-pushgateway || command -v pushgateway || true)

vport=$(free_port); sport=$(free_port); lport=$(free_port); gport=$(free_port); nport=$(free_port); aport=$(free_port)
export VAULT_ADDR="http://127.0.0.1:$vport"
export VAULT_TOKEN="demo-root-$RANDOM$RANDOM"
export DIGICERT_API_KEY="demo-api-key-$RANDOM$RANDOM"
overlap=8 # seconds the old API key stays active after the new one is promoted

say "starting vault server -dev on $VAULT_ADDR"
HOME="$demo" "$vault_bin" server -dev -dev-root-token-id="$VAULT_TOKEN" -dev-listen-address="127.0.0.1:$vport" \
  -dev-no-store-token >"$demo/vault.log" 2>&1 &
pids+=($!)
wait_for "$VAULT_ADDR/v1/sys/health"

cat >"$demo/config.yaml" <<YAML
vault:
  address: $VAULT_ADDR
  kv_mount: secret
  auth: {method: token}
certcentral:
  url: http://127.0.0.1:$sport/services/v2
  api_key_vault: {path: keyroll/digicert/api-key, field: current}   # the API key, rotated by the api_key target below
  timeout: 5s
rotation:
  schedule: "@every 1m"
  propagation_delay: 2s        # >= listener.refresh
  overlap: 1h
  min_interval: 1h
targets:
  - name: demo
    vault_path: keyroll/digicert/demo
  - name: digicert-api-key
    kind: api_key
    vault_path: keyroll/digicert/api-key
    api_key:
      key_id: 0                  # first adoption: the id of the key in current (CertCentral → Automation → API Keys)
      overlap: ${overlap}s       # short for the demo (default 24h): the old key stays active this long
      grace: 5s                  # a use of the old key later than promote + grace: a consumer still holds it (default 15m)
      min_interval: 1h
evidence:
  file: $demo/evidence.jsonl
  signing: {transit_mount: transit, key: keyroll-evidence}   # Vault Transit signs every record
  anchor: keyroll/evidence/head                              # the file's head, kept in Vault
listener:
  refresh: 1s
  max_staleness: 1500ms        # < propagation_delay: a replica cut off from Vault fails closed first
metrics:
  pushgateway: http://127.0.0.1:$gport
notify:
  - url: http://127.0.0.1:$nport/hooks/keyroll
    format: json
    on: [rotated, failed, needs_human, recovered]
YAML
export KEYROLL_CONFIG="$demo/config.yaml"

say "creating the Transit key that signs the evidence (as deploy/kubernetes/vault/kubernetes-auth-role.sh does)"
"$vault_bin" secrets enable transit >/dev/null
"$vault_bin" write -f transit/keys/keyroll-evidence type=ed25519 >/dev/null
echo "transit/keys/keyroll-evidence (ed25519)"

say "starting the CertCentral simulator and the reference listener"
"$kr" simulate --addr "127.0.0.1:$sport" --api-key "$DIGICERT_API_KEY" \
  --endpoint "http://127.0.0.1:$lport/webhook" --allow-http-endpoints >"$demo/simulate.out" 2>"$demo/simulate.log" &
pids+=($!)
"$kr" listen --target demo --addr "127.0.0.1:$lport" --admin-addr "127.0.0.1:$aport" >"$demo/listen.out" 2>"$demo/listen.log" &
pids+=($!)
wait_for "http://127.0.0.1:$sport/services/v2/webhook"
wait_for "http://127.0.0.1:$aport/healthz"
cat "$demo/simulate.out"
key_id=$(sed -n 's/.* key_id=\([0-9]*\).*/\1/p' "$demo/simulate.out")
sed -i "s/key_id: 0 /key_id: $key_id /" "$demo/config.yaml"

say "storing the API key in Vault as the api_key target's current (keyroll reads it there; its id $key_id comes from api_key.key_id)"
"$vault_bin" kv put -mount=secret keyroll/digicert/api-key current="$DIGICERT_API_KEY" >/dev/null
echo "secret/keyroll/digicert/api-key: current (the key itself is never printed)"

say "starting a Pushgateway on 127.0.0.1:$gport and a notification receiver on 127.0.0.1:$nport"
if [ -n "$pushgateway" ]; then
  "$pushgateway" --web.listen-address="127.0.0.1:$gport" --log.level=warn >"$demo/pushgateway.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$gport/-/ready"
else
  echo "(no Pushgateway: install Debian's prometheus-pushgateway to see the push)"
fi
if command -v python3 >/dev/null; then
python3 - "$nport" "$demo/notifications.jsonl" >"$demo/receiver.log" 2>&1 <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body + b"\n")
        self.send_response(204)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
PY
pids+=($!)
wait_for "http://127.0.0.1:$nport/"
else
  echo "(no python3: notifications are attempted, logged as not delivered, and never fail a run)"
fi

say "keyroll check"
"$kr" check --log-format console

sim_keys() { # the account's API keys as the simulator lists them (never the keys themselves)
  curl -s "http://127.0.0.1:$sport/_sim/keys?api_key=$DIGICERT_API_KEY" |
    jq -r '.[] | "  key \(.id)  \(.status)\t\(.name)\tlast used \(.last_used_date // "never")\t\(.fingerprint)"'
}

say "keyroll run  (first rotation of both: the webhook adopts DigiCert's current secret, stages, tests, pushes, promotes;
   the API key: adopt its id, intent, create, stage, authenticate, promote — the old key stays active ${overlap}s)"
"$kr" run --log-format console
promoted=$(date +%s)

say "the account's API keys (GET /_sim/keys): the new key is current, the old one still active during the overlap"
sim_keys

say "keyroll status  (both kinds; the old API key is the previous key until its overlap ends)"
"$kr" status || true

say "an event delivered by the simulator with the new key"
curl -s -X POST "http://127.0.0.1:$sport/_sim/deliver?api_key=$DIGICERT_API_KEY&event=certificate_issued"; echo

say "keyroll run --target demo --force -o json  (second webhook rotation before min_interval, authenticated with the new API key; the result as one JSON document on stdout)"
"$kr" run --target demo --force -o json --log-format console

wait_s=$((promoted + overlap + 1 - $(date +%s)))
if [ "$wait_s" -gt 0 ]; then
  say "waiting ${wait_s}s for the old API key's overlap to end"
  sleep "$wait_s"
fi
say "keyroll run  (the API key's overlap is over: the old key is revoked, its last_used_date recorded; the webhook is not due)"
"$kr" run --log-format console

say "the account's API keys: the old key revoked, keyroll's key the only active one"
sim_keys

say "keyroll status"
"$kr" status || true

say "the Vault document's fingerprints (keys themselves are never printed)"
"$kr" status -o json || true

say "evidence ($demo/evidence.jsonl)"
cat "$demo/evidence.jsonl"

say "the API key's rotation record, and the revoke of the old key (from the evidence)"
jq 'select(.kind == "api_key" and .outcome == "rotated")' "$demo/evidence.jsonl"
jq -c 'select(.kind == "api_key") | .steps[] | select(.name == "revoke")' "$demo/evidence.jsonl"

say "evidence verify: the chain, every record's Transit signature, and the file's end against Vault's anchor"
"$kr" evidence public-key --config "$demo/config.yaml" >"$demo/evidence.pem"
"$kr" evidence verify "$demo/evidence.jsonl" --public-key "$demo/evidence.pem" --config "$demo/config.yaml" --vault

if [ -n "$pushgateway" ]; then
  say "what the Pushgateway received from the last run (job=keyroll, grouped by target)"
  curl -s "http://127.0.0.1:$gport/metrics" | grep -E '^keyroll_|^push_time_seconds' || true
fi

say "notifications received by the local receiver ($demo/notifications.jsonl)"
cat "$demo/notifications.jsonl" 2>/dev/null || echo "(none)"

say "listener log (accepted events and the role of the key that matched)"
grep -h '"event"' "$demo/listen.log" | tail -n 5 || true

say "demo finished; stopping Vault, the simulator and the listener"
