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
// query, without X-WEBHOOK-KEY and with HeaderRole; the upstream's status, headers and
// body go back to the sender. Everything else is answered by Middleware (401, or 503
// while the verifier cannot verify) and never forwarded. An upstream that cannot be
// reached gives 502. transport nil: http.DefaultTransport.
func (v *Verifier) Proxy(upstream *url.URL, transport http.RoundTripper) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			pr.Out.Header.Del(HeaderKey)
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
