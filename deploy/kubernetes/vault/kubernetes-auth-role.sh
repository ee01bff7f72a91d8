#!/usr/bin/env bash
# kubernetes-auth-role.sh writes keyroll's Vault policies and Kubernetes auth roles, and
# creates the Transit key that signs the evidence. Run it once per cluster with a Vault token
# allowed to manage policies, auth roles, secrets engines and Transit keys (it is idempotent):
#
#   VAULT_ADDR=https://vault.example.internal:8200 VAULT_TOKEN=... ./kubernetes-auth-role.sh
#
# It assumes the Kubernetes auth method is enabled at auth/kubernetes and configured for the
# cluster (vault auth enable kubernetes; vault write auth/kubernetes/config
# kubernetes_host=https://...), and the KV v2 mount "secret".
set -euo pipefail

NAMESPACE=${NAMESPACE:-keyroll}                       # the namespace of ../*.yaml
LISTENER_NAMESPACE=${LISTENER_NAMESPACE:-webhooks}    # where your webhook listeners run
LISTENER_SERVICE_ACCOUNT=${LISTENER_SERVICE_ACCOUNT:-webhook-listener}
AUTH_MOUNT=${AUTH_MOUNT:-kubernetes}                  # config vault.auth.mount
# The audience of the pods' projected service account tokens (serviceAccountToken.audience
# in ../cronjob.yaml, vault.auth.kubernetes.audience in the Helm chart). Vault refuses tokens for any other
# audience, such as the API server's default token.
AUDIENCE=${AUDIENCE:-vault}
# The evidence signing key (config evidence.signing: transit_mount, key).
TRANSIT_MOUNT=${TRANSIT_MOUNT:-transit}
EVIDENCE_KEY=${EVIDENCE_KEY:-keyroll-evidence}

cd "$(dirname "$0")"

# The Transit engine and the asymmetric key that signs every evidence record. The private
# key never leaves Vault (not exportable, not deletable); the job may only sign with it and
# read its public keys (keyroll-job-policy.hcl).
if ! vault secrets list -format=json | grep -q "\"${TRANSIT_MOUNT}/\""; then
  vault secrets enable -path="${TRANSIT_MOUNT}" transit
fi
if ! vault read "${TRANSIT_MOUNT}/keys/${EVIDENCE_KEY}" >/dev/null 2>&1; then
  vault write -f "${TRANSIT_MOUNT}/keys/${EVIDENCE_KEY}" type=ed25519
fi

# Both files are `keyroll policy` output for ../configmap.yaml (a test keeps them identical):
# regenerate them with `keyroll policy --config config.yaml job` and
# `keyroll policy --config config.yaml listener TARGET` when the targets change.
vault policy write keyroll-job keyroll-job-policy.hcl
vault policy write keyroll-listener-prod-us keyroll-listener-policy.hcl

# The CronJob's service account logs in as role "keyroll" (config vault.auth.role) and gets
# keyroll-job only. token_ttl outlives the Job's activeDeadlineSeconds (600s); the token is not
# renewable past token_max_ttl. (token_policies and token_ttl are the current names of the
# older policies= and ttl= parameters.)
vault write "auth/${AUTH_MOUNT}/role/keyroll" \
  bound_service_account_names=keyroll \
  bound_service_account_namespaces="${NAMESPACE}" \
  audience="${AUDIENCE}" \
  token_policies=keyroll-job \
  token_ttl=15m \
  token_max_ttl=15m

# The listeners' role: read-only on the key document of target prod-us (one role and policy
# per target: a listener never reads another target's keys). A listener runs for weeks: it
# renews its token, and past token_max_ttl logs in again with its service account token, so a
# leaked listener token is usable for 4 hours at most.
vault write "auth/${AUTH_MOUNT}/role/keyroll-listener" \
  bound_service_account_names="${LISTENER_SERVICE_ACCOUNT}" \
  bound_service_account_namespaces="${LISTENER_NAMESPACE}" \
  audience="${AUDIENCE}" \
  token_policies=keyroll-listener-prod-us \
  token_ttl=1h \
  token_max_ttl=4h

# The evidence anchor (config evidence.anchor, a path in the KV v2 mount "secret"): Vault keeps
# one version per evidence record, and `keyroll evidence verify --vault` walks them to catch a
# rolled-back or rewritten history. Set its bound here, with this admin token: the job's policy
# has no metadata, delete, destroy or undelete grant on the anchor, so the job can neither trim
# the history nor lower the bound (Vault's default is the mount's 10 versions). One version per
# record, about 30 bytes of Vault metadata each: 10000 keeps a year of hourly runs; size it to
# runs per year x the years an auditor looks back.
EVIDENCE_ANCHOR=${EVIDENCE_ANCHOR-keyroll/evidence/head}   # ../configmap.yaml's evidence.anchor; empty: no anchor
ANCHOR_MAX_VERSIONS=${ANCHOR_MAX_VERSIONS:-10000}
if [ -n "${EVIDENCE_ANCHOR}" ]; then
  vault kv metadata put -mount=secret -max-versions="${ANCHOR_MAX_VERSIONS}" "${EVIDENCE_ANCHOR}"
fi
