package certcentraltest

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
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

type options struct {
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
	}
}

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
