package listener

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// HeaderRole is the header Proxy adds to a forwarded delivery: the role (current,
// pending or previous) of the key that matched.
const HeaderRole = "X-Keyroll-Key-Role"

// Proxy returns a verifying reverse proxy to upstream, for receivers that are not
// written in Go (`keyroll listen --upstream`). A delivery whose X-WEBHOOK-KEY is in the
// accept set is forwarded to upstream with the same path (joined to upstream's path) and
// query, with HeaderRole and without any header the upstream could take for
// X-WEBHOOK-KEY or for keyroll's own (see IsOwnHeader); the upstream's status, headers and
// body go back to the sender. Everything else is answered by Middleware (401, or 503
// while the verifier cannot verify) and never forwarded. An upstream that cannot be
// reached gives 502. transport nil: http.DefaultTransport.
func (v *Verifier) Proxy(upstream *url.URL, transport http.RoundTripper) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			stripOwnHeaders(pr.Out.Header)
			role, _ := RoleFromContext(pr.In.Context())
			pr.Out.Header.Set(HeaderRole, role.String())
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			v.log.Warn().Err(err).Str("path", r.URL.Path).Int("status", status).Msg("delivery not forwarded upstream")
			http.Error(w, http.StatusText(status), status)
		},
	}
	return v.Middleware(rp)
}

// IsOwnHeader reports whether an upstream could read a header of this name as
// X-WEBHOOK-KEY or as one of keyroll's X-Keyroll-* headers: the name compared without
// regard to case, with '_' taken for '-' as CGI, WSGI, PHP and Rack do
// (HTTP_X_WEBHOOK_KEY). Proxy forwards none of them, so a sender can neither pass a key
// on nor choose its role.
func IsOwnHeader(name string) bool {
	const key, prefix = "x-webhook-key", "x-keyroll-"
	if len(name) != len(key) && len(name) <= len(prefix) {
		return false
	}
	return sameHeaderName(name, key) || (len(name) > len(prefix) && sameHeaderName(name[:len(prefix)], prefix))
}

// sameHeaderName compares name with lower, a lower-case name with '-', ignoring case and
// taking '_' for '-'.
func sameHeaderName(name, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// stripOwnHeaders removes from h every header IsOwnHeader names.
func stripOwnHeaders(h http.Header) {
	for name := range h {
		if IsOwnHeader(name) {
			delete(h, name)
		}
	}
}
