# keyroll-listener: the policy of the webhook listeners (`keyroll listen` or a service using
# the listener package), which only read the accept set: current, pending, previous.
#
#   vault policy write keyroll-listener keyroll-listener-policy.hcl
#
# KV version 2, mount "secret", documents at keyroll/digicert/<target>: see
# keyroll-job-policy.hcl.

path "secret/data/keyroll/digicert/*" {
  capabilities = ["read"]
}
