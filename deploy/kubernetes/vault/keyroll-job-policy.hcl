# keyroll-job: the policy of the rotation job (keyroll run, keyroll schedule), as
# `keyroll policy job` writes it for this configuration.
#
#   vault policy write keyroll-job FILE
#
# Every document write is a check-and-set (create for a target's first document,
# update after). The metadata holds the non-secret custom_metadata (state, fingerprint,
# binding to the webhook), max_versions and the version history; destroy removes
# the versions that hold retired keys. Nothing else: no delete, no list, no sudo.

# Target prod-us.
path "secret/data/keyroll/digicert/prod-us" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/keyroll/digicert/prod-us" {
  capabilities = ["create", "read", "update"]
}
path "secret/destroy/keyroll/digicert/prod-us" {
  capabilities = ["update"]
}

# The evidence file (evidence.signing): Transit signs each record with this key.
# The private key never leaves Vault.
path "transit/sign/keyroll-evidence" {
  capabilities = ["update"]
}

# Its public keys, to check the file's signatures.
path "transit/keys/keyroll-evidence" {
  capabilities = ["read"]
}

# The evidence file's head (evidence.anchor), written with check-and-set. Its data path only:
# no metadata, delete, destroy or undelete, so the job can add heads but never remove one
# or lower max_versions (the Vault set-up sets it), and the history stays checkable.
path "secret/data/keyroll/evidence/head" {
  capabilities = ["create", "read", "update"]
}
