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
)

// Events lists every notification event.
var Events = []string{EventRotated, EventResumed, EventSkipped, EventFailed, EventNeedsHuman, EventRecovered}

// Notify is one notification endpoint. Its URL (often a secret Slack webhook URL) is
// never logged.
type Notify struct {
	URL    string   `yaml:"url"`
	Format string   `yaml:"format"`
	On     []string `yaml:"on"`
}

// validateOps checks the metrics and notify sections.
func (c *Config) validateOps(p *FieldErrors) {
	add := func(path, format string, args ...any) {
		*p = append(*p, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if g := c.Metrics.Pushgateway; g != "" && !httpURL(g) {
		add("metrics.pushgateway", "want an http(s) URL")
	}
	for i, n := range c.Notify {
		at := fmt.Sprintf("notify[%d]", i)
		if !httpURL(n.URL) {
			// The URL is not echoed: a Slack webhook URL is a credential.
			add(at+".url", "want an http(s) URL")
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

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
