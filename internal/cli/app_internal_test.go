package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/rotate"
)

// TestTargetPolicies: an api_key target rotates by its own block (min_interval, overlap,
// grace, in_use, key_id) with no propagation wait or listener test; a webhook target by
// the run's policy.
func TestTargetPolicies(t *testing.T) {
	src := `
vault: {address: "http://127.0.0.1:8200"}
rotation: {min_interval: 2d, overlap: 12h}
targets:
  - {name: hook, vault_path: k/hook}
  - {name: key, kind: api_key, vault_path: k/key}
  - {name: eu-key, kind: api_key, vault_path: k/eu, api_key: {key_id: 184, min_interval: 7d, overlap: 1d, grace: 1h, in_use: revoke}}
`
	cfg, err := config.Read(strings.NewReader(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	run := policy(cfg)
	day := 24 * time.Hour
	tests := []struct {
		target string
		policy *rotate.Policy
		key    rotate.KeyPolicy
	}{
		{"hook", nil, rotate.KeyPolicy{}},
		{"key", &rotate.Policy{SecretLength: run.SecretLength, Overlap: 12 * time.Hour, MinInterval: 2 * day},
			rotate.KeyPolicy{Grace: 15 * time.Minute, InUse: rotate.InUseHold}},
		{"eu-key", &rotate.Policy{SecretLength: run.SecretLength, Overlap: day, MinInterval: 7 * day},
			rotate.KeyPolicy{KeyID: 184, Grace: time.Hour, InUse: rotate.InUseRevoke}},
	}
	for _, tt := range tests {
		tg, _ := cfg.Target(tt.target)
		got := targetPolicy(cfg, tg)
		if (got == nil) != (tt.policy == nil) || (got != nil && *got != *tt.policy) {
			t.Errorf("%s: policy %+v, want %+v", tt.target, got, tt.policy)
		}
		if k := keyPolicy(cfg, tg); k != tt.key {
			t.Errorf("%s: key policy %+v, want %+v", tt.target, k, tt.key)
		}
	}
}
