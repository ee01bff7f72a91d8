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
		{"both", "metrics: {pushgateway: http://pg:9091}\nnotify: [{url: https://hooks.slack.com/services/T/B/X, format: slack, on: [failed, recovered]}]\n", nil},
		{"bad pushgateway", "metrics: {pushgateway: pg:9091}\n", []string{"metrics.pushgateway"}},
		{"bad notify", "notify: [{url: 'not a url', format: xml, on: [failed, exploded]}, {url: http://r, format: json}]\n",
			[]string{"notify[0].url", "notify[0].format", "notify[0].on[1]", "notify[1].on"}},
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
