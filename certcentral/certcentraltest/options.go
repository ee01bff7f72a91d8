package certcentraltest

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Option configures a Server.
type Option func(*options)

// UpdateContact says when PUT /webhook/{id} contacts the endpoint before
// applying the change. DigiCert documents that it contacts the endpoint during
// create and update but not exactly when.
type UpdateContact int

const (
	// ContactAlways delivers a test event on every update (the default).
	ContactAlways UpdateContact = iota
	// ContactOnChange delivers only when the endpoint or the secret changes.
	ContactOnChange
	// ContactNever never contacts the endpoint on create or update.
	ContactNever
)

// SettingsPlacement says where GET /webhook puts webhook_settings; DigiCert
// documents both places.
type SettingsPlacement int

const (
	// SettingsNested puts them inside the webhook item (the default).
	SettingsNested SettingsPlacement = iota
	// SettingsTopLevel puts them beside "webhooks".
	SettingsTopLevel
	// SettingsBoth puts them in both places.
	SettingsBoth
	// SettingsOmitted leaves them out.
	SettingsOmitted
)

// DefaultSettings are the webhook_settings of a webhook created or seeded
// without any.
var DefaultSettings = json.RawMessage(`{"webhook_notification_frequency":[90,60,30,7,0,-7],"instant_issue_webhook_notification":"0","webhook_send_certificate_chain":"0","webhook_send_instant_issued_certificate_chain":"0"}`)

// DefaultUnauthorizedBody is the body of a 401 for a missing or unknown API
// key. DigiCert does not document it.
const DefaultUnauthorizedBody = `{"errors":[{"code":"access_denied|invalid_key","message":"The API key provided is not valid."}]}`

// DefaultRevokedBody is the body of the answer to a request authenticated with a revoked
// API key (status 401 by default; see WithRevokedResponse). DigiCert does not document it:
// the simulator assumes the code of an invalid key and a message that says why.
const DefaultRevokedBody = `{"errors":[{"code":"access_denied|invalid_key","message":"The API key provided has been revoked."}]}`

// DefaultKeyDateLayout is how create_date and last_used_date are written, as in
// DigiCert's examples ("2018-08-07T23:27:58+00:00"), always in UTC.
const DefaultKeyDateLayout = "2006-01-02T15:04:05-07:00"

// LastUsedPrecision is how precisely last_used_date records a key's last use.
type LastUsedPrecision int

const (
	// LastUsedSecond records the second (the default; DigiCert's examples show seconds).
	LastUsedSecond LastUsedPrecision = iota
	// LastUsedDay records only the day (midnight UTC), as an issuer that updates the date
	// once a day would.
	LastUsedDay
)

type options struct {
	keyManagers        []int
	selfInfo           bool
	selfRevoke         bool
	webhookReaders     []int
	webhookManagers    []int
	revokedStatus      int
	revokedBody        string
	newKeyDelay        time.Duration
	lastUsedPrecision  LastUsedPrecision
	keyDateLayout      string
	rerevokeError      bool
	hideRevoked        bool
	now                func() time.Time
	limits             []Window
	retryAfter         bool
	countRejected      bool
	unauthStatus       int
	unauthBody         string
	resetSettings      bool
	placement          SettingsPlacement
	contact            UpdateContact
	challengeActivates bool
	deliveryClient     *http.Client
	rootCAs            *x509.CertPool
	deliveryTimeout    time.Duration
	allowHTTP          bool
	hideSecret         bool
	phpJSON            bool
	latency            time.Duration
	minSecretLen       int
	challengeTTL       time.Duration
}

func defaultOptions() options {
	return options{
		now:             time.Now,
		limits:          append([]Window(nil), DefaultRateLimits...),
		retryAfter:      true,
		unauthStatus:    http.StatusUnauthorized,
		unauthBody:      DefaultUnauthorizedBody,
		deliveryTimeout: 10 * time.Second,
		minSecretLen:    32,
		challengeTTL:    30 * time.Minute,

		keyManagers:     []int{RoleUnrestricted},
		selfInfo:        true,
		selfRevoke:      true,
		webhookReaders:  []int{RoleUnrestricted, RoleViewOnly},
		webhookManagers: []int{RoleUnrestricted},
		revokedStatus:   http.StatusUnauthorized,
		revokedBody:     DefaultRevokedBody,
		keyDateLayout:   DefaultKeyDateLayout,
	}
}

// The assumptions about API keys (docs/design.md, "The CertCentral API", A1…): what
// DigiCert does not document, each with the simulator's default and the option that
// plays the other answers.

// WithKeyManagerRoles sets the access roles (restricted_to_role_id; RoleUnrestricted is 0)
// whose keys may manage API keys: list them, create them, change their status and read
// another key's info (assumption A1). Default: unrestricted keys only. A restricted key
// that may manage keys may create keys only with its own restriction.
func WithKeyManagerRoles(roles ...int) Option {
	return func(o *options) { o.keyManagers = slices.Clone(roles) }
}

// WithSelfInfo says whether any active key may read its own info, GET /key/{its id},
// whatever its role (assumption A2). Default true.
func WithSelfInfo(on bool) Option { return func(o *options) { o.selfInfo = on } }

// WithWebhookReaderRoles sets the roles whose keys may read the webhook (GET /webhook),
// assumption A3. Default: unrestricted and View Only.
func WithWebhookReaderRoles(roles ...int) Option {
	return func(o *options) { o.webhookReaders = slices.Clone(roles) }
}

// WithWebhookManagerRoles sets the roles whose keys may create, update, test, challenge,
// activate and deactivate the webhook (assumption A3). Default: unrestricted only.
func WithWebhookManagerRoles(roles ...int) Option {
	return func(o *options) { o.webhookManagers = slices.Clone(roles) }
}

// WithSelfRevoke says whether a key may revoke itself (assumption A4). Default true; when
// false, PUT /key/{its id}/status {"status":"revoked"} answers 403
// access_denied|missing_permission.
func WithSelfRevoke(on bool) Option { return func(o *options) { o.selfRevoke = on } }

// WithRevokedResponse sets the status and raw body answered to a request authenticated
// with a revoked key (assumption A5). Default 401 and DefaultRevokedBody.
func WithRevokedResponse(status int, body string) Option {
	return func(o *options) { o.revokedStatus, o.revokedBody = status, body }
}

// WithNewKeyDelay makes a key created through the API answer like an unknown key until d
// has passed on the simulator's clock (assumption A6). Default 0: it works at once.
func WithNewKeyDelay(d time.Duration) Option { return func(o *options) { o.newKeyDelay = d } }

// WithLastUsedPrecision sets how precisely last_used_date records a key's use
// (assumption A7). Default LastUsedSecond.
func WithLastUsedPrecision(p LastUsedPrecision) Option {
	return func(o *options) { o.lastUsedPrecision = p }
}

// WithKeyDateLayout sets the time layout of create_date and last_used_date (assumption
// A8), e.g. time.RFC3339 for "Z", or "2006-01-02 15:04:05". Default DefaultKeyDateLayout.
func WithKeyDateLayout(layout string) Option { return func(o *options) { o.keyDateLayout = layout } }

// WithRerevokeError makes revoking a revoked key answer 400 invalid_status instead of 204
// (assumption A9). Default false.
func WithRerevokeError(on bool) Option { return func(o *options) { o.rerevokeError = on } }

// WithHideRevokedKeys makes revoked keys disappear: GET /key leaves them out and GET
// /key/{id} answers 404 (assumption A10). Default false: they stay listed as revoked.
func WithHideRevokedKeys(on bool) Option { return func(o *options) { o.hideRevoked = on } }

// WithClock sets the simulator's clock for rate limits, challenge token
// expiry and log times (default time.Now). Injected latency is always real.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRateLimits replaces DefaultRateLimits; no windows disables rate
// limiting.
func WithRateLimits(ws ...Window) Option {
	return func(o *options) { o.limits = append([]Window(nil), ws...) }
}

// WithRetryAfter says whether a rate-limited 429 carries Retry-After (seconds
// until the window frees up). Default true; DigiCert does not document it.
func WithRetryAfter(on bool) Option { return func(o *options) { o.retryAfter = on } }

// WithCountRejected says whether requests answered 429 count against the
// windows (default false: only accepted requests count, so the window frees up
// on its own).
func WithCountRejected(on bool) Option { return func(o *options) { o.countRejected = on } }

// WithUnauthorizedResponse sets the status and raw body answered for a missing
// or unknown API key (default 401 and DefaultUnauthorizedBody).
func WithUnauthorizedResponse(status int, body string) Option {
	return func(o *options) { o.unauthStatus, o.unauthBody = status, body }
}

// WithResetSettingsOnOmit makes an update without webhook_settings reset them
// to DefaultSettings instead of leaving them unchanged (the default).
func WithResetSettingsOnOmit(on bool) Option { return func(o *options) { o.resetSettings = on } }

// WithSettingsPlacement sets where GET /webhook puts webhook_settings.
func WithSettingsPlacement(p SettingsPlacement) Option { return func(o *options) { o.placement = p } }

// WithUpdateContact sets when create and update contact the endpoint
// (default ContactAlways).
func WithUpdateContact(c UpdateContact) Option { return func(o *options) { o.contact = c } }

// WithChallengeActivates makes a verified challenge set the webhook active.
// By default it only marks the endpoint verified, and Activate then succeeds.
func WithChallengeActivates(on bool) Option { return func(o *options) { o.challengeActivates = on } }

// WithDeliveryClient sets the client used for deliveries to webhook
// endpoints; it overrides WithRootCAs.
func WithDeliveryClient(c *http.Client) Option { return func(o *options) { o.deliveryClient = c } }

// WithRootCAs sets the CAs deliveries trust (default: the system's).
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.rootCAs = pool } }

// WithDeliveryTimeout bounds each delivery (default 10s).
func WithDeliveryTimeout(d time.Duration) Option { return func(o *options) { o.deliveryTimeout = d } }

// AllowHTTPEndpoints accepts http:// endpoints as well as https://, for demos
// with plain local listeners.
func AllowHTTPEndpoints() Option { return func(o *options) { o.allowHTTP = true } }

// WithHideSecret makes GET /webhook omit the secret for accounts created
// afterwards (default false: the secret is returned). See Account.HideSecret.
func WithHideSecret(on bool) Option { return func(o *options) { o.hideSecret = on } }

// WithPHPStyleJSON escapes "/" as "\/" and every non-ASCII character as \uXXXX
// in response strings, as PHP's json_encode does by default. The default is
// Go's encoding (which escapes <, > and &).
func WithPHPStyleJSON(on bool) Option { return func(o *options) { o.phpJSON = on } }

// WithLatency delays every request by d (see also Server.SetLatency).
func WithLatency(d time.Duration) Option { return func(o *options) { o.latency = d } }

// WithMinSecretLength changes the minimum secret length (default 32).
func WithMinSecretLength(n int) Option { return func(o *options) { o.minSecretLen = n } }
