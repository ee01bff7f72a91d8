# keyroll-listener-prod-us: the policy of the webhook listeners of target prod-us, as
# `keyroll policy listener prod-us` writes it for this configuration.
#
#   vault policy write keyroll-listener-prod-us FILE
#
# Read on this target's document only: not its metadata, not another target's
# document, not the DigiCert API key. Older versions of the document hold no retired
# key: keyroll destroys them.

path "secret/data/keyroll/digicert/prod-us" {
  capabilities = ["read"]
}
