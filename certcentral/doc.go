// Package certcentral is a small client for the webhook part of DigiCert's
// CertCentral Services API v2, as described in docs/design.md, "The CertCentral API".
//
// The client covers listing, creating and updating the account's one webhook,
// sending test events and challenges, and activating and deactivating it; and the API
// keys: listing, describing, creating and revoking them and listing the access roles
// ([Client.ListKeys], [Client.GetKey], [Client.CreateKey], [Client.SetKeyStatus],
// [Client.AccessRoles]). [RotateAPI] and [KeysRotator] adapt it to rotate's ports. It is
// written for keyroll's secret rotation, so it takes care to:
//
//   - send back the endpoint byte for byte (no HTML escaping) and the
//     webhook_settings exactly as read (see [UpdateRequest]);
//   - distinguish an omitted secret from an empty one (see [Secret]);
//   - never put an API key (its own, one it created, one it proves) or a webhook secret
//     into an error, a formatted value or an observer callback (see [Webhook.Format],
//     [Secret.Format], [CreatedKey.Format]);
//   - retry 429, 5xx, timeouts and connection errors with exponential backoff
//     and full jitter, honouring Retry-After (see [RetryPolicy]), and never
//     retry any other 4xx, and never send a create of an API key twice unless it was
//     refused with 429 (a second POST after a lost answer could make a second key);
//   - keep every API key under both documented rate limits, 100 requests per
//     5 seconds and 1000 requests per 3 minutes, with a limiter shared by all
//     clients using the same key (see [Limiter] and [LimiterFor]).
//
// The package does not log. Errors are returned, typed ([*APIError],
// [*TransportError], [*RetryError]) and classified by [IsRetryable] and
// [IsCredentialsRejected]; an optional [Config.Observer] sees every attempt.
//
// The sibling package certcentraltest is an in-process simulator of the API for
// tests and demos.
package certcentral
