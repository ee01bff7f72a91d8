# keyroll-job: the policy of the rotation job (`keyroll run` in the CronJob, `keyroll schedule`).
#
#   vault policy write keyroll-job keyroll-job-policy.hcl
#
# The key documents are KV version 2 secrets under the mount "secret" (config vault.kv_mount)
# at keyroll/digicert/<target> (config targets[].vault_path). KV v2 puts a secret's data under
# <mount>/data/ and its metadata under <mount>/metadata/: change both paths if yours differ.

# Read the document and write new versions of it. Every write is a check-and-set, which
# needs "update" (and "create" for a target's first document).
path "secret/data/keyroll/digicert/*" {
  capabilities = ["create", "read", "update"]
}

# Read the version and write the non-secret custom_metadata (state, rotation_id,
# current_fingerprint, rotated_at) that `keyroll status` and metadata-only readers use.
path "secret/metadata/keyroll/digicert/*" {
  capabilities = ["create", "read", "update"]
}

# keyroll never deletes or destroys versions, and needs nothing else: no "delete", no "list",
# no sudo. (Token lookup-self, used to name the actor in the evidence, is in Vault's default
# policy.)
