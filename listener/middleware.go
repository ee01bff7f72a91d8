package listener

import (
	"context"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/keyset"
)

// HeaderKey is the header DigiCert puts the webhook's secret in.
const HeaderKey = "X-WEBHOOK-KEY"

// headerKeyCanonical is HeaderKey as net/http stores it in a parsed request's Header.
var headerKeyCanonical = http.CanonicalHeaderKey(HeaderKey)

// Reason says why a key was rejected; ReasonNone means it was accepted.
type Reason int

// Reasons for rejecting a delivery.
const (
	ReasonNone        Reason = iota // accepted
	ReasonMissingKey                // no X-WEBHOOK-KEY (or an empty one)
	ReasonWrongKey                  // not in the accept set
	ReasonExpiredKey                // the previous key, after previous_until
	ReasonUnavailable               // no usable key set: not loaded, stale, or the read failed
	numReasons
)

// String returns the reason's name as used in logs and metrics.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonMissingKey:
		return "missing_key"
	case ReasonWrongKey:
		return "wrong_key"
	case ReasonExpiredKey:
		return "expired_key"
	case ReasonUnavailable:
		return "unavailable"
	}
	return "unknown"
}

type roleKey struct{}

// ContextWithRole returns a copy of ctx carrying role, as Middleware passes it on.
func ContextWithRole(ctx context.Context, role keyset.Role) context.Context {
	return context.WithValue(ctx, roleKey{}, role)
}

// RoleFromContext returns the role of the key that Middleware accepted for the request
// whose context is ctx; false when ctx did not come through Middleware.
func RoleFromContext(ctx context.Context) (keyset.Role, bool) {
	r, ok := ctx.Value(roleKey{}).(keyset.Role)
	return r, ok && r != keyset.RoleNone
}

// Middleware verifies the X-WEBHOOK-KEY of every request before next sees it.
//
// A missing, wrong or expired key gets 401, and a request the verifier cannot verify
// (no fresh key set) gets 503, both with a generic body that says nothing of the reason;
// after a 401 the connection is closed.
// Rejections are logged with the remote address, method, path and reason, never with the
// header, at most one line per reason every Config.LogEvery (the next line counts those
// dropped). An accepted request reaches next with the header removed, its body limited
// to Config.MaxBodyBytes (a declared longer body gets 413 at once; reading past the limit
// fails with *http.MaxBytesError) and the matched role in its context (RoleFromContext).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		if vals := r.Header[headerKeyCanonical]; len(vals) > 0 {
			key = vals[0]
		}
		role, reason := v.Check(r.Context(), key)
		if reason != ReasonNone {
			if ev := v.rejects[reason].event(&v.log, zerolog.WarnLevel); ev != nil {
				ev.Str("remote_addr", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
					Str("reason", reason.String()).Msg("webhook delivery rejected")
			}
			status := http.StatusUnauthorized
			if reason == ReasonUnavailable {
				status = http.StatusServiceUnavailable
			} else {
				// A client with a wrong key gets no second try on this connection.
				w.Header().Set("Connection", "close")
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		r.Header.Del(HeaderKey)
		if r.ContentLength > v.maxBody {
			v.log.Warn().Str("remote_addr", r.RemoteAddr).Str("path", r.URL.Path).Int64("content_length", r.ContentLength).
				Int64("max_body_bytes", v.maxBody).Msg("webhook delivery body too large")
			w.Header().Set("Connection", "close")
			http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, v.maxBody)
		}
		next.ServeHTTP(w, r.WithContext(ContextWithRole(r.Context(), role)))
	})
}
