package redact_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/…"},
		{"http://keyroll:s3cret@127.0.0.1:9091", "http://127.0.0.1:9091/…"},
		{"http://127.0.0.1:9091", "http://127.0.0.1:9091"},
		{"https://pg.example:9091/?token=abc", "https://pg.example:9091/…"},
		{"not a url", "(invalid URL)"},
		{"://bad", "(invalid URL)"},
	} {
		if got := redact.URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	base := errors.New("base")
	for _, raw := range []string{
		"http://keyroll:Pushgw-S3cret-Passw0rd@127.0.0.1:18308",
		"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
		"http://u:p%40ss%2Fw0rd@pg:9091/prefix?token=tok-123456",
	} {
		u, _ := url.Parse(raw)
		pw, _ := u.User.Password()
		for _, msg := range []string{
			"unexpected status code 401 while pushing to " + raw + "/metrics/job/keyroll",
			"Post \"" + u.String() + "\": connection refused",
			"password " + pw + " rejected",
		} {
			err := redact.Error(fmt.Errorf("%s: %w", msg, base), raw)
			for _, secret := range []string{pw, u.Path, u.RawQuery} {
				if len(secret) > 1 && strings.Contains(err.Error(), secret) {
					t.Errorf("%q: %q still in %q", raw, secret, err)
				}
			}
			if !errors.Is(err, base) {
				t.Errorf("redacted error does not unwrap to the original")
			}
		}
	}
	if redact.Error(nil, "http://x") != nil {
		t.Error("Error(nil) != nil")
	}
}
