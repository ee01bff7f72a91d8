#!/usr/bin/env bash
# manual-rotation.sh is one rotation of one DigiCert webhook secret done the way someone
# would script it without keyroll: the vault CLI, curl and jq. bench/ times it against
# `keyroll run` (it is a yardstick, not a tool: no resume, no drift check, no evidence, no
# retries, no rate limiting, secrets pass through jq and curl's command lines).
#
# Same document and steps as keyroll (docs/design.md, "The rotation"): read the Vault document and its
# version, GET the webhook, stage a fresh 48-character key as pending (check-and-set on the
# version read), ask DigiCert for a test event with it, PUT it (endpoint and settings as
# read, events omitted), GET to verify, promote (check-and-set on the staged version).
# custom_metadata is not written.
#
# Environment: VAULT_BIN (vault binary), VAULT_ADDR, VAULT_TOKEN, KV_MOUNT, KV_PATH,
# DC_URL (…/services/v2), DC_API_KEY, OVERLAP_SECONDS.
set -euo pipefail
vault=${VAULT_BIN:-vault}
mount=${KV_MOUNT:-secret}
path=${KV_PATH:?KV_PATH is required}
: "${DC_URL:?DC_URL is required}" "${DC_API_KEY:?DC_API_KEY is required}"
overlap=${OVERLAP_SECONDS:-86400}

dc() { # dc METHOD PATH [BODY]
  curl -fsS --max-time 30 -X "$1" -H "X-DC-DEVKEY: $DC_API_KEY" -H 'Accept: application/json' \
    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "$DC_URL$2"
}
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# 1. read the document and its version (0: none yet)
if doc=$("$vault" kv get -format=json -mount="$mount" "$path" 2>/dev/null); then
  version=$(jq -r '.data.metadata.version' <<<"$doc")
  data=$(jq -c '.data.data' <<<"$doc")
else
  version=0 data='{}'
fi

# 2. the live webhook (the account's one webhook)
hook=$(dc GET /webhook | jq -c '.webhooks[0]')
id=$(jq -r '.id' <<<"$hook")
[ "$(jq -r '.status' <<<"$hook")" = active ] || { echo "webhook $id is not active" >&2; exit 3; }

# 3. stage a fresh key as pending
new=
while [ ${#new} -lt 48 ]; do new+=$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9'); done
new=${new:0:48}
staged=$(jq -c --arg live "$(jq -r '.secret // empty' <<<"$hook")" --arg k "$new" --arg t "$(now)" \
  --arg id "$(cat /proc/sys/kernel/random/uuid)" \
  '(if (.current // "") == "" and $live != "" then .current = $live else . end)
   | .pending = $k | .pending_since = $t | .rotation_id = $id' <<<"$data")
staged_version=$("$vault" kv put -format=json -mount="$mount" -cas="$version" "$path" - <<<"$staged" | jq -r '.data.version')

# 4. DigiCert delivers a test event with the new key to the endpoint
endpoint=$(jq -r '.endpoint' <<<"$hook")
dc POST /webhook/test-endpoint "$(jq -nc --arg e "$endpoint" --arg s "$new" '{endpoint: $e, secret: $s}')" >/dev/null

# 5. push: endpoint byte-identical, settings as read, events omitted
dc PUT "/webhook/$id" "$(jq -c --arg s "$new" '{endpoint, secret: $s} + (if .webhook_settings then {webhook_settings} else {} end)' <<<"$hook")" >/dev/null

# 6. verify
dc GET /webhook | jq -e --argjson id "$id" --arg s "$new" --arg e "$endpoint" \
  '.webhooks[] | select(.id == $id) | .status == "active" and .endpoint == $e and ((.secret // $s) == $s)' >/dev/null

# 7. promote: pending becomes current, the old current stays accepted for the overlap
promoted=$(jq -c --arg t "$(now)" --arg until "$(date -u -d "+${overlap} seconds" +%Y-%m-%dT%H:%M:%SZ)" \
  '{current: .pending, current_since: $t, rotation_id: .rotation_id}
   + (if (.current // "") != "" then {previous: .current, previous_until: $until} else {} end)' <<<"$staged")
"$vault" kv put -format=json -mount="$mount" -cas="$staged_version" "$path" - <<<"$promoted" >/dev/null
echo "rotated $path (webhook $id): version $staged_version staged, promoted"
