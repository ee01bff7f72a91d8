package cli

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/listener"
)

// parseUpstream checks --upstream: empty, or an http(s) URL with a host.
func parseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: listen: --upstream %q: want an http(s) URL such as http://127.0.0.1:8080", ErrUsage, s)
	}
	return u, nil
}

// deliveries is the handler of webhook deliveries: the verifying proxy to upstream, or
// the reference event handler when there is none.
func deliveries(v *listener.Verifier, upstream *url.URL, log zerolog.Logger) http.Handler {
	if upstream == nil {
		return v.Middleware(listener.EventHandler(log))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // one upstream: keep its connections
	log.Info().Str("upstream", upstream.Redacted()).Msg("forwarding verified deliveries")
	return v.Proxy(upstream, tr)
}
