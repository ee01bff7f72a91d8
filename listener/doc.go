// Package listener verifies the X-WEBHOOK-KEY of DigiCert CertCentral webhook deliveries
// against the accept set keyroll keeps in Vault (docs/design.md, "The Vault document"), for webhook
// receivers written in Go and for `keyroll listen`.
//
// A Verifier reads one target's key document through a DocumentSource (the package
// listener/vaultsource reads it from Vault, so that this package imports no Vault client)
// and accepts exactly: current; pending when set; previous while now < previous_until. With a positive Config.Refresh it caches the document and re-reads
// it every Refresh in Run; keyroll's rotation waits propagation_delay >= Refresh after
// staging a key, so a listener knows every key before DigiCert sends it. With Refresh 0
// it reads the document on every request instead.
//
// The verifier fails closed: until the first successful read, once its key set is older
// than Config.MaxStaleness (Vault unreadable for too long), and, with Refresh 0, whenever
// the read fails. Refresh errors keep the last good set until then. The expiry of the
// previous key is decided at request time, not at refresh time.
//
// Keys are compared in constant time, against every slot of the set on every request,
// so the time taken does not depend on which key matched or on how much of a key an
// attacker guessed right. (Whether the length matches is not hidden: every key keyroll
// mints has the configured secret_length, which is not a secret.) The hot path takes no
// lock and allocates nothing: it loads an immutable snapshot through an atomic pointer
// and reads the clock once.
//
// Middleware wraps any http.Handler: it answers 401 to a missing or wrong key (503 while
// the verifier cannot verify) without detail, logs the rejection without the header,
// removes the header from the request, bounds the body, and puts the matched role into
// the request context (RoleFromContext). Stats, the Verifier as a prometheus.Collector and
// MetricsHandler expose counters of accepted deliveries by role and rejected ones by reason, and the state of
// the key set; HealthHandler answers 200 while the key set is fresh. EventHandler is a
// reference handler for DigiCert's events.
//
// Neither the keys nor the header are ever logged; keys are referred to by fingerprint.
package listener
