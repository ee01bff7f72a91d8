// Package certcentraltest is an in-process simulator of DigiCert CertCentral's
// webhook and API-key API (docs/design.md, "The CertCentral API"), for tests in the style of
// net/http/httptest and for `keyroll simulate`.
//
// It simulates API keys with one webhook per account (Account.AddWebhook seeds
// more, for fleet benchmarks on one API key), the documented
// validation rules and error bodies, both rate limits per key, real HTTP(S)
// deliveries of test, challenge and ordinary events carrying X-WEBHOOK-KEY, a
// log of every request and delivery, and fault injection (latency, errors, 429
// bursts, dropped responses, hidden secrets, out-of-band changes).
//
// Where the documentation leaves behaviour unknown the simulator picks one and
// an Option changes it: the 401 body ([WithUnauthorizedResponse]), Retry-After
// on 429 ([WithRetryAfter]), whether rejected requests count against the rate
// limit ([WithCountRejected]), what omitting webhook_settings does
// ([WithResetSettingsOnOmit]), where webhook_settings is placed in the list
// ([WithSettingsPlacement]), when create and update contact the endpoint
// ([WithUpdateContact]), whether a verified challenge activates the webhook
// ([WithChallengeActivates]), whether GET returns the secret ([WithHideSecret],
// [Account.HideSecret]) and how JSON strings are escaped ([WithPHPStyleJSON]).
// Choices without an option: a secret shorter than 32 characters is answered
// 400 webhook_invalid_secret, an unknown event type 400 webhook_invalid_event,
// a missing endpoint 400 webhook_invalid_endpoint, JSON null counts as an
// omitted field, a challenge token is single use, a failed challenge delivery
// is answered 400 webhook_endpoint_error, a listener's 2xx (not only 200)
// counts as success, deliveries do not follow redirects and are not retried,
// and create without events subscribes to none.
//
// API keys belong to users of an account (AddAccount makes one user holding one
// unrestricted key; Account.AddUser and Account.AddKey add more). Every request must carry
// an active key as X-DC-DEVKEY; its last_used_date is updated on each use. The key
// endpoints are served as documented: POST /key/user/{user_id} (201 {"id","api_key"}, the
// only time a key is shown), GET /key?user_id=, GET /key/{id}, PUT /key/{id}/status and
// GET /key/api-roles. What the documentation leaves open about them is an assumption with
// an option each (docs/design.md, A1…A10): which roles may manage keys
// ([WithKeyManagerRoles]), whether a key may read its own info ([WithSelfInfo]), which may
// read or manage the webhook ([WithWebhookReaderRoles], [WithWebhookManagerRoles]), whether
// a key may revoke itself ([WithSelfRevoke]), what a revoked key gets
// ([WithRevokedResponse]), a new key's delay before it works ([WithNewKeyDelay]), the
// precision and spelling of the dates ([WithLastUsedPrecision], [WithKeyDateLayout]), and
// what revoking a revoked key and reading revoked keys give ([WithRerevokeError],
// [WithHideRevokedKeys]). [Server.LoseNextKeyCreate] creates a key and loses the answer.
//
// A Server is safe for concurrent use.
package certcentraltest
