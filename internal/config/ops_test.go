package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/internal/config"
)

func TestValidateOps(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // problem paths; none: valid
	}{
		{"none", "", nil},
		{"both", "metrics: {pushgateway: https://pg:9091}\nnotify: [{url: https://hooks.slack.com/services/T/B/X, format: slack, on: [failed, recovered]}]\n", nil},
		{"bad pushgateway", "metrics: {pushgateway: pg:9091}\n", []string{"metrics.pushgateway"}},
		{"bad notify", "notify: [{url: 'not a url', format: xml, on: [failed, exploded]}, {url: https://r, format: json}]\n",
			[]string{"notify[0].url", "notify[0].format", "notify[0].on[1]", "notify[1].on"}},
		{"plain http off loopback", "metrics: {pushgateway: 'http://keyroll:pw@pg:9091'}\nnotify: [{url: http://hooks.example/T/B/X, format: json, on: [failed]}]\n",
			[]string{"metrics.pushgateway", "notify[0].url"}},
		{"plain http on loopback", "metrics: {pushgateway: http://127.0.0.1:9091}\nnotify: [{url: 'http://localhost:8080/hook', format: json, on: [failed]}, {url: 'http://[::1]:8080/', format: json, on: [failed]}]\n", nil},
		{"plain http opted in", "metrics: {pushgateway: http://pg:9091, insecure_http: true}\nnotify: [{url: http://hooks.mesh/x, format: json, on: [failed], insecure_http: true}]\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(minimalTargets+tt.yaml), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			var got []string
			var ce *config.Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					got = append(got, p.Path)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems at %v, want %v (%v)", got, tt.want, err)
			}
			if err != nil && strings.Contains(err.Error(), "not a url") {
				t.Error("a notification URL (a credential) is echoed")
			}
		})
	}
}

const minimalTargets = "targets: [{name: prod-us, vault_path: keyroll/digicert/prod-us}]\n"

func TestOpsURLErrorsAndWarnings(t *testing.T) {
	c, err := config.Parse(strings.NewReader(minimalTargets+"metrics: {pushgateway: 'http://keyroll:Pushgw-S3cret@pg:9091'}\nnotify: [{url: http://hooks.example/services/T0/B0/S3cretPath, format: json, on: [failed]}]\n"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	msg := c.Validate().Error()
	for _, leak := range []string{"S3cret", "hooks.example", "pg:9091"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the error shows %q: %s", leak, msg)
		}
	}
	if !strings.Contains(msg, "metrics.insecure_http: true") || !strings.Contains(msg, "notify[0].insecure_http: true") {
		t.Errorf("the error does not name the opt-in: %s", msg)
	}
	c.Metrics.InsecureHTTP, c.Notify[0].InsecureHTTP = true, true
	if err := c.Validate(); err != nil {
		t.Fatalf("opted in: %v", err)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"metrics.insecure_http", "notify[0].insecure_http"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %s:\n%s", want, w)
		}
	}
}
