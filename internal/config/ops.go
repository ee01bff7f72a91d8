package config

import (
	"fmt"
	"net/url"
	"slices"
)

// Metrics configures where `keyroll run` sends its metrics.
type Metrics struct {
	// Pushgateway is the URL of a Prometheus Pushgateway; when set, `keyroll run` pushes
	// its metrics there when it ends, success or failure.
	Pushgateway string `yaml:"pushgateway"`
	// InsecureHTTP allows a plain http:// Pushgateway on a non-loopback host (a service
	// mesh that encrypts it), as vault.insecure_http does for Vault.
	InsecureHTTP bool `yaml:"insecure_http"`
}

// Notification formats.
const (
	FormatSlack = "slack" // a Slack incoming-webhook message: {"text": ...}
	FormatJSON  = "json"  // the evidence record's fields plus "event"
)

// Notification events: the outcomes a Notify entry can ask for.
const (
	EventRotated    = "rotated"     // a new key was promoted
	EventResumed    = "resumed"     // a staged rotation was finished
	EventSkipped    = "skipped"     // nothing was due
	EventFailed     = "failed"      // the run failed (retryable or not)
	EventNeedsHuman = "needs_human" // the run failed on something only a human can fix
	EventRecovered  = "recovered"   // the first success after a failure
	// EventRevokedInUse: an old API key still in use after its successor's promote plus
	// grace was revoked anyway (api_key.in_use: revoke, or run --revoke-in-use).
	EventRevokedInUse = "revoked_in_use"
)

// Events lists every notification event.
var Events = []string{EventRotated, EventResumed, EventSkipped, EventFailed, EventNeedsHuman, EventRecovered, EventRevokedInUse}

// Notify is one notification endpoint. Its URL (often a secret Slack webhook URL) is
// never logged.
type Notify struct {
	URL    string   `yaml:"url"`
	Format string   `yaml:"format"`
	On     []string `yaml:"on"`
	// InsecureHTTP allows a plain http:// URL on a non-loopback host.
	InsecureHTTP bool `yaml:"insecure_http"`
}

// validateOps checks the metrics and notify sections.
func (c *Config) validateOps(p *FieldErrors) {
	add := func(path, format string, args ...any) {
		*p = append(*p, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	// The URLs are never echoed: a Pushgateway URL may hold a password, and a Slack
	// webhook URL is a credential.
	if g := c.Metrics.Pushgateway; g != "" {
		if msg := opsURLProblem(g, c.Metrics.InsecureHTTP, "metrics.insecure_http"); msg != "" {
			add("metrics.pushgateway", "%s", msg)
		}
	}
	for i, n := range c.Notify {
		at := fmt.Sprintf("notify[%d]", i)
		if msg := opsURLProblem(n.URL, n.InsecureHTTP, at+".insecure_http"); msg != "" {
			add(at+".url", "%s", msg)
		}
		if n.Format != FormatSlack && n.Format != FormatJSON {
			add(at+".format", "want slack or json, got %q", n.Format)
		}
		if len(n.On) == 0 {
			add(at+".on", "list at least one of %v", Events)
		}
		for j, e := range n.On {
			if !slices.Contains(Events, e) {
				add(fmt.Sprintf("%s.on[%d]", at, j), "want one of %v, got %q", Events, e)
			}
		}
	}
}

// opsURLProblem says what is wrong with a Pushgateway or notify URL, "" when nothing: it
// must be https://, or http:// on a loopback host, or anywhere with optIn set.
func opsURLProblem(s string, optIn bool, optInKey string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "want an https:// URL"
	case u.Scheme == "http" && !optIn && !loopback(u.Hostname()):
		return "plain http:// to a host that is not a loopback address: credentials and messages would cross the network in cleartext; use https://, or set " + optInKey + ": true when a service mesh encrypts it"
	}
	return ""
}

// insecureOpsURLs are the warnings for Pushgateway and notify URLs that use the
// insecure_http opt-in.
func (c *Config) insecureOpsURLs() []string {
	var w []string
	plain := func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && u.Scheme == "http" && !loopback(u.Hostname())
	}
	if c.Metrics.InsecureHTTP && plain(c.Metrics.Pushgateway) {
		w = append(w, "metrics.insecure_http: pushing metrics over plain HTTP to a non-loopback host")
	}
	for i, n := range c.Notify {
		if n.InsecureHTTP && plain(n.URL) {
			w = append(w, fmt.Sprintf("notify[%d].insecure_http: posting notifications over plain HTTP to a non-loopback host", i))
		}
	}
	return w
}
