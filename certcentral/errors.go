package certcentral

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/keyroll/keyroll/internal/failure"
)

// Error codes documented by DigiCert that callers are likely to test for with
// [APIError.HasCode].
const (
	CodeNotFound               = "not_found"
	CodeRouteNotFound          = "not_found|route"
	CodeWebhookNotFound        = "not_found|webhook"
	CodeMissingPermission      = "access_denied|missing_permission"
	CodeBadRequestFormat       = "bad_request_format"
	CodeRequestLimitExceeded   = "request_limit_exceeded"
	CodeWebhookInvalidAccount  = "webhook_invalid_account"
	CodeWebhookInvalidEndpoint = "webhook_invalid_endpoint"
	CodeWebhookConfigured      = "webhook_configured_already"
	CodeWebhookEndpointError   = "webhook_endpoint_error"
	CodeWebhookInvalidToken    = "webhook_invalid_token"
	CodeWebhookInvalidAction   = "webhook_invalid_action"
)

// ErrNoWebhook reports that the account has no webhook, or not the one asked
// for. An [*APIError] with code webhook_invalid_account or not_found|webhook
// matches it with errors.Is.
var ErrNoWebhook = failure.New(failure.NeedsHuman, "certcentral: no such webhook")

// ErrAmbiguousWebhook reports that webhook id 0 ("the account's one webhook")
// was asked for but the account lists more than one.
var ErrAmbiguousWebhook = failure.New(failure.NeedsHuman, "certcentral: account has more than one webhook")

// ErrMalformedResponse reports a 2xx answer whose body the client could not
// make sense of. It is not retryable.
var ErrMalformedResponse = errors.New("certcentral: malformed response")

// ErrInvalidRequest reports a call the client refused to send, e.g. an update
// without an endpoint. Nothing was sent.
var ErrInvalidRequest = errors.New("certcentral: invalid request")

// ErrorDetail is one entry of DigiCert's error body
// {"errors":[{"code":"…","message":"…"}]}.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// APIError is a non-2xx answer from CertCentral. Its text names the method,
// path, status and error codes and messages; it never contains the API key, a
// secret that was sent (they are scrubbed from the messages) or the request
// body.
type APIError struct {
	Method string // HTTP method, e.g. "PUT"
	Path   string // path relative to the base URL, e.g. "/webhook/12"
	Status int    // HTTP status code
	// Errors are the decoded entries of the body; empty when the body was
	// empty or not DigiCert's JSON error format.
	Errors []ErrorDetail
	// RetryAfter is the server's Retry-After, zero when it sent none.
	RetryAfter time.Duration
}

// Error implements error, e.g.
// "certcentral: PUT /webhook/12: 400 webhook_endpoint_error: could not reach endpoint".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "certcentral: %s %s: %d", e.Method, e.Path, e.Status)
	if len(e.Errors) == 0 {
		if t := http.StatusText(e.Status); t != "" {
			b.WriteString(" " + t)
		}
		return b.String()
	}
	for i, d := range e.Errors {
		if i > 0 {
			b.WriteString(";")
		}
		code := clean(d.Code, 100)
		if code == "" {
			code = "(no code)"
		}
		b.WriteString(" " + code)
		if m := clean(d.Message, 300); m != "" {
			b.WriteString(": " + m)
		}
	}
	return b.String()
}

// Retryable reports whether the call may succeed if tried again: 429 and 5xx.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// FailureKind says what the failure needs: 429 and 5xx are worth another run; any other
// status means DigiCert refused the request (credentials, permissions, a bad request),
// which repeating it will not change.
func (e *APIError) FailureKind() failure.Kind {
	if e.Retryable() {
		return failure.Retryable
	}
	return failure.NeedsHuman
}

// CredentialsRejected reports whether DigiCert rejected the API key or its
// permissions: 401 or 403. Such errors are never retried.
func (e *APIError) CredentialsRejected() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// HasCode reports whether any entry of the error body has the given code.
func (e *APIError) HasCode(code string) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Is makes errors.Is(err, ErrNoWebhook) true for the codes that mean the
// account has no (such) webhook.
func (e *APIError) Is(target error) bool {
	return target == ErrNoWebhook &&
		(e.HasCode(CodeWebhookInvalidAccount) || e.HasCode(CodeWebhookNotFound))
}

// TransportError is a failed attempt that got no HTTP answer: a connection
// error, a dropped connection, a timeout, or an unreadable response body. It is
// always retryable.
type TransportError struct {
	Method string
	Path   string
	Err    error
}

// Error implements error.
func (e *TransportError) Error() string {
	inner := e.Err
	var ue *url.Error
	if errors.As(inner, &ue) {
		inner = ue.Err // the URL adds nothing but noise
	}
	msg := "unknown error"
	if inner != nil {
		msg = clean(inner.Error(), 300)
	}
	return fmt.Sprintf("certcentral: %s %s: %s", e.Method, e.Path, msg)
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the attempt timed out.
func (e *TransportError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// RetryError wraps the last error of a call that failed with retryable errors
// until the retry policy gave up.
type RetryError struct {
	Attempts int   // attempts made
	Err      error // the last attempt's error
}

// Error implements error.
func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts)", e.Err, e.Attempts)
}

// Unwrap returns the last attempt's error.
func (e *RetryError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is transient, so that the same call may
// succeed later: an [*APIError] with status 429 or 5xx, any [*TransportError],
// or a deadline. It stays true after the client gave up retrying.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// IsCredentialsRejected reports whether err is an [*APIError] with status 401
// or 403.
func IsCredentialsRejected(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.CredentialsRejected()
}

// clean makes server-supplied text safe for a one-line error: control
// characters become spaces and it is cut to max runes.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// redactedText replaces what a server might echo back.
const redactedText = "[REDACTED]"

// minRedactLen is the shortest sensitive string scrubbed from server text;
// shorter ones would mangle ordinary words and cannot be secrets DigiCert
// accepts anyway.
const minRedactLen = 8

// scrub removes every sensitive string from s.
func scrub(s string, sensitive []string) string {
	for _, v := range sensitive {
		if len(v) >= minRedactLen {
			s = strings.ReplaceAll(s, v, redactedText)
		}
	}
	return s
}
