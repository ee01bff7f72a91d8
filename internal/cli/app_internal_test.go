package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
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
  - {name: eu-key, kind: api_key, vault_path: k/eu, api_key: {key_id: 184, max_age: 30d, min_interval: 7d, overlap: 1d, grace: 1h, in_use: revoke}}
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
		{"key", &rotate.Policy{SecretLength: run.SecretLength, Overlap: 12 * time.Hour, MinInterval: 2 * day, MaxAge: 90 * day},
			rotate.KeyPolicy{Grace: 15 * time.Minute, InUse: rotate.InUseHold}},
		{"eu-key", &rotate.Policy{SecretLength: run.SecretLength, Overlap: day, MinInterval: 7 * day, MaxAge: 30 * day},
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

// TestClientsFollowTheRotatedKey: a process that runs again (the scheduler) authenticates
// with the API key now in Vault, not with the one its first run read: after an api_key
// target's rotation and the old key's revocation, the webhook target (api_key_vault on
// that document) and the api_key target still reach DigiCert.
func TestClientsFollowTheRotatedKey(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	sim := certcentraltest.NewServer()
	t.Cleanup(sim.Close)
	oldKey := "KEY" + strings.Repeat("o", 33)
	acct := sim.AddAccount(oldKey)
	acct.SetWebhook(certcentraltest.Webhook{Endpoint: "https://127.0.0.1:1/hook", Secret: strings.Repeat("s", 40), Status: certcentraltest.StatusActive})
	path := "keyroll/cli-internal/" + keyset.Fingerprint(t.Name())[7:]
	src := fmt.Sprintf(`
vault: {address: %q, auth: {method: token}}
certcentral: {url: %q, api_key_vault: {path: %q, field: current}}
listener: {refresh: 0s}
rotation: {propagation_delay: 0s, verify_listener: false}
targets:
  - {name: hook, vault_path: %q}
  - {name: key, kind: api_key, vault_path: %q}
`, srv.Addr, sim.URL(), path+"/key", path+"/hook", path+"/key")
	a, cfg, _ := testApp(ctx, t, srv.RootToken, src)
	doc := keyset.Document{Current: oldKey, CurrentID: strconv.Itoa(acct.KeyID())}
	if _, err := a.store.Write(ctx, path+"/key", doc, 0); err != nil {
		t.Fatal(err)
	}
	key, _ := cfg.Target("key")
	for i, targets := range [][]config.Target{{key}, cfg.Targets} {
		// The second run is a dry run: it reads the webhook and lists the keys, both
		// authenticated, and pushes nothing to an endpoint the test does not serve.
		results, err := a.rotate(ctx, targets, rotate.Options{Force: true, DryRun: i == 1}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Err != nil {
				t.Errorf("run %d, %s: %v", i+1, r.Target, r.Err)
			}
		}
		if i == 0 {
			if err := acct.RevokeKey(acct.KeyID()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestOpsExportAPIKeyGauges: the key gauges read from Vault give an api_key target its own
// max_age and keyroll_api_key_held while its previous key is held; a webhook target has
// no held series.
func TestOpsExportAPIKeyGauges(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	path := "keyroll/cli-internal/" + keyset.Fingerprint(t.Name())[7:]
	src := fmt.Sprintf(`
vault: {address: %q, auth: {method: token}}
listener: {refresh: 0s}
rotation: {propagation_delay: 0s}
targets:
  - {name: hook, vault_path: %q}
  - {name: key, kind: api_key, vault_path: %q, api_key: {max_age: 30d}}
`, srv.Addr, path+"/hook", path+"/key")
	a, cfg, env := testApp(ctx, t, srv.RootToken, src)
	now := time.Now()
	for p, d := range map[string]keyset.Document{
		path + "/hook": {Current: strings.Repeat("h", 48), CurrentSince: now},
		path + "/key": {Current: strings.Repeat("k", 36), CurrentID: "185", CurrentSince: now, Previous: strings.Repeat("o", 36), PreviousID: "184",
			PreviousUntil: now.Add(-time.Hour), PreviousHeldSince: now.Add(-time.Minute)},
	} {
		if _, err := a.store.Write(ctx, p, d, 0); err != nil {
			t.Fatal(err)
		}
	}
	o := newOps(env, cfg)
	o.readDocuments(ctx, a, cfg.Targets, false)
	err := testutil.GatherAndCompare(o.reg, strings.NewReader(`
# HELP keyroll_api_key_held api_key targets: 1 while the previous API key is held, active past its overlap because it is still in use (in_use: hold), else 0.
# TYPE keyroll_api_key_held gauge
keyroll_api_key_held{target="key"} 1
# HELP keyroll_rotation_max_age_seconds The target's max_age (rotation.max_age; an api_key target's api_key.max_age): the age past which its key is overdue.
# TYPE keyroll_rotation_max_age_seconds gauge
keyroll_rotation_max_age_seconds{target="hook"} 7.776e+06
keyroll_rotation_max_age_seconds{target="key"} 2.592e+06
`), "keyroll_api_key_held", "keyroll_rotation_max_age_seconds")
	if err != nil {
		t.Error(err)
	}
}

// TestListenTargetSkipsAPIKeys: without --target, listen serves the only webhook target;
// an api_key target is never one to listen for.
func TestListenTargetSkipsAPIKeys(t *testing.T) {
	src := `
vault: {address: "http://127.0.0.1:8200"}
targets:
  - {name: key, kind: api_key, vault_path: k/key}
  - {name: hook, vault_path: k/hook}
`
	cfg, err := config.Read(strings.NewReader(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if tg, err := listenTarget(cfg, ""); err != nil || tg.Name != "hook" {
		t.Errorf("listenTarget(\"\") = %s, %v; want hook", tg.Name, err)
	}
	if _, err := listenTarget(cfg, "key"); err == nil || !strings.Contains(err.Error(), "nobody listens for an API key") {
		t.Errorf("listenTarget(key) = %v", err)
	}
}

// TestCheckWarnsOfCoarseLastUsed: against an issuer that records last_used_date by the
// day (assumption A7 wrong), check warns that the in-use check could miss a consumer.
func TestCheckWarnsOfCoarseLastUsed(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	sim := certcentraltest.NewServer(certcentraltest.WithLastUsedPrecision(certcentraltest.LastUsedDay))
	t.Cleanup(sim.Close)
	key := "KEY" + strings.Repeat("d", 33)
	acct := sim.AddAccount(key)
	path := "keyroll/cli-internal/" + keyset.Fingerprint(t.Name())[7:]
	src := fmt.Sprintf(`
vault: {address: %q, auth: {method: token}}
certcentral: {url: %q}
listener: {refresh: 0s}
rotation: {propagation_delay: 0s}
targets:
  - {name: key, kind: api_key, vault_path: %q}
`, srv.Addr, sim.URL(), path)
	a, cfg, _ := testApp(ctx, t, srv.RootToken, src)
	if _, err := a.store.Write(ctx, path, keyset.Document{Current: key, CurrentID: strconv.Itoa(acct.KeyID())}, 0); err != nil {
		t.Fatal(err)
	}
	rep := &CheckReport{}
	tg, _ := cfg.Target("key")
	if err := a.checkAPIKey(ctx, rep, tg, keyset.Document{Current: key, CurrentID: strconv.Itoa(acct.KeyID())}); err != nil {
		t.Fatalf("checkAPIKey: %v", err)
	}
	var last string
	for _, l := range rep.Checks {
		if l.Check == "api_key_last_used" {
			last = l.Message
		}
	}
	if now := time.Now().UTC(); now.Sub(now.Truncate(24*time.Hour)) > time.Minute && !strings.Contains(last, "is a day, not a time (A7)") {
		t.Errorf("last_used_date line: %q", last)
	}
}

// testApp builds the app of the configuration src, logged in to Vault with token.
func testApp(ctx context.Context, t *testing.T, token, src string) (*app, *config.Config, *Env) {
	t.Helper()
	lookup := func(k string) (string, bool) {
		if k == "VAULT_TOKEN" {
			return token, true
		}
		return "", false
	}
	cfg, err := config.Read(strings.NewReader(src), lookup)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: zerolog.Nop(), LookupEnv: lookup}
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, cfg, env
}
