package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/keyset"
)

// TestPolicyOfAnAPIKeyTarget: the job's policy rotates the API key's document like a
// target's; `policy listener` refuses an api_key target (exit 2): nobody listens for it.
func TestPolicyOfAnAPIKeyTarget(t *testing.T) {
	w := newWorld(t, "  - {name: digicert-api-key, kind: api_key, vault_path: keyroll/cli-test/api-key}\n")
	code, out, errs := w.run("policy", "listener", "digicert-api-key")
	if code != 2 || !strings.Contains(errs, "nobody listens for an API key") || out != "" {
		t.Errorf("policy listener <api_key target>: exit %d, stdout %q, stderr %q; want 2 saying nobody listens", code, out, errs)
	}
	code, job, errs := w.run("policy", "job")
	if code != 0 {
		t.Fatalf("policy job: exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`path "secret/data/keyroll/cli-test/api-key" {` + "\n" + `  capabilities = ["create", "read", "update"]`,
		`path "secret/metadata/keyroll/cli-test/api-key" {`,
		`path "secret/destroy/keyroll/cli-test/api-key" {`,
	} {
		if !strings.Contains(job, want) {
			t.Errorf("the job's policy lacks %q:\n%s", want, job)
		}
	}
	code, all, _ := w.run("policy")
	if code != 0 || !strings.Contains(all, "keyroll-listener-prod-us") || strings.Contains(all, "keyroll-listener-digicert-api-key") {
		t.Errorf("policy: exit %d, want the job's and prod-us's listeners' policies only:\n%s", code, all)
	}
}

// apiKeyTarget is the extra YAML of a world with an api_key target whose document is at
// path, with a max_age of 30 days.
func apiKeyTarget(path string) string {
	return fmt.Sprintf("  - {name: digicert-api-key, kind: api_key, vault_path: %q, api_key: {max_age: 30d, overlap: 1h}}\n", path)
}

// TestStatusBothKinds: status shows a KIND column; an api_key target's key ids, its age
// against its own max_age (30d, not rotation.max_age's 90d) and a held previous key
// (HELD, exit 1), in text and JSON, and never a key.
func TestStatusBothKinds(t *testing.T) {
	ctx := context.Background()
	keyPath := "keyroll/cli-test/api-key-" + keyset.Fingerprint(t.Name())[7:]
	w := newWorld(t, apiKeyTarget(keyPath))
	if code, out, errs := w.run("run", "--target", "prod-us"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	now := time.Now().UTC()
	cur, prev := strings.Repeat("C", 36), strings.Repeat("V", 36)
	doc := keyset.Document{Current: cur, CurrentID: "184", CurrentSince: now.Add(-20 * 24 * time.Hour),
		Previous: prev, PreviousID: "183", PreviousUntil: now.Add(time.Hour), RotationID: "r-1"}
	if _, err := w.store.Write(ctx, keyPath, doc, 0); err != nil {
		t.Fatal(err)
	}
	code, out, errs := w.run("status")
	t.Log("\n" + out)
	if code != 0 || !strings.Contains(out, "KIND") || !regexp.MustCompile(`prod-us\s+webhook\s+idle`).MatchString(out) ||
		!regexp.MustCompile(`digicert-api-key\s+api_key\s+idle\s+sha256:\w+\s+184\s+20d0h\s+30d`).MatchString(out) ||
		!strings.Contains(out, keyset.Fingerprint(prev)+" #183") {
		t.Errorf("status: exit %d\n%s%s", code, out, errs)
	}
	w.checkNoLeak([]string{out, errs}, cur, prev)

	// Overdue against its own max_age, and the previous key held: exit 1.
	doc.CurrentSince, doc.PreviousUntil, doc.PreviousHeldSince = now.Add(-40*24*time.Hour), now.Add(-2*time.Hour), now.Add(-time.Hour)
	if _, err := w.store.Write(ctx, keyPath, doc, 1); err != nil {
		t.Fatal(err)
	}
	code, out, errs = w.run("status")
	t.Log("\n" + out)
	if code != 1 || !regexp.MustCompile(`\sOVERDUE,HELD\n`).MatchString(out) || !strings.Contains(out, "older than max_age 30d") || !strings.Contains(out, "HELD since") ||
		!strings.Contains(out, "previous API key 183 held since") || !regexp.MustCompile(`prod-us\s+webhook\s+idle.*\s-\n`).MatchString(out) {
		t.Errorf("held, overdue api key: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = w.run("status", "-o", "json")
	var rows []cli.TargetStatus
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 1 || len(rows) != 2 {
		t.Fatalf("status -o json: exit %d, %v\n%s", code, err, out)
	}
	hook, key := rows[0], rows[1]
	if hook.Kind != "webhook" || hook.MaxAge != "90d" || hook.Held || hook.Overdue || hook.CurrentKeyID != "" {
		t.Errorf("webhook row: %+v", hook)
	}
	if key.Kind != "api_key" || key.MaxAge != "30d" || !key.Held || !key.Overdue || key.CurrentKeyID != "184" || key.PreviousKeyID != "183" ||
		key.PreviousHeldSince == nil || key.PreviousHeldSince.Unix() != doc.PreviousHeldSince.Unix() {
		t.Errorf("api key row: %+v", key)
	}
	w.checkNoLeak([]string{out}, cur, prev)
}

// apiKeyWorld is a world whose api_key target's document holds the account's key (the
// one keyroll authenticates with) and whose webhook target reads its key from there.
func apiKeyWorld(t *testing.T, block string) (*world, string) {
	t.Helper()
	keyPath := "keyroll/cli-test/api-key-" + keyset.Fingerprint(t.Name())[7:]
	w := newWorld(t, fmt.Sprintf("  - {name: digicert-api-key, kind: api_key, vault_path: %q, api_key: %s}\n", keyPath, block))
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("api_key_env: KEYROLL_TEST_API_KEY"), []byte(fmt.Sprintf("api_key_vault: {path: %q, field: current}", keyPath)), 1)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := keyset.Document{Current: w.apiKey, CurrentID: strconv.Itoa(w.acct.KeyID()), CurrentSince: time.Now().Add(-100 * 24 * time.Hour)}
	if _, err := w.store.Write(context.Background(), keyPath, doc, 0); err != nil {
		t.Fatal(err)
	}
	return w, keyPath
}

// keyDoc reads the api_key target's document.
func (w *world) keyDoc(path string) (keyset.Document, int) {
	w.t.Helper()
	vv, err := w.store.Read(context.Background(), path)
	if err != nil {
		w.t.Fatal(err)
	}
	return vv.Doc, vv.Version
}

// TestRunRotatesTheAPIKey: one `keyroll run` rotates both kinds (the webhook's client
// authenticated with the old API key keeps working while the API key rotates); the
// output and -o json name the kind and key ids; a later run past the overlap revokes the
// old key; no output holds a key.
func TestRunRotatesTheAPIKey(t *testing.T) {
	w, keyPath := apiKeyWorld(t, "{overlap: 1h, max_age: 30d}")
	oldID := w.acct.KeyID()
	evFile := filepath.Join(t.TempDir(), "evidence.jsonl")
	f, err := os.OpenFile(w.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "evidence: {file: %q}\n", evFile)
	f.Close()

	code, out, errs := w.run("run", "--dry-run")
	t.Log("\n" + out)
	if code != 0 || !strings.Contains(out, "digicert-api-key (api_key, dry run):") || !strings.Contains(out, "prod-us (dry run):") ||
		!strings.Contains(out, fmt.Sprintf("%d", oldID)) {
		t.Errorf("run --dry-run: exit %d\n%s%s", code, out, errs)
	}
	if d, v := w.keyDoc(keyPath); v != 1 || d.Current != w.apiKey {
		t.Fatalf("a dry run wrote the document (version %d)", v)
	}

	code, out, errs = w.run("run", "-o", "json")
	var ro cli.RunOutput
	if err := json.Unmarshal([]byte(out), &ro); err != nil || code != 0 || len(ro.Targets) != 2 {
		t.Fatalf("run -o json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	hook, key := ro.Targets[0], ro.Targets[1]
	d, ver := w.keyDoc(keyPath)
	newID, _ := strconv.Atoi(d.CurrentID)
	if hook.Kind != "webhook" || hook.Outcome != "rotated" || key.Kind != "api_key" || key.Outcome != "rotated" ||
		key.OldKeyID != oldID || key.NewKeyID != newID || newID == oldID || d.Previous != w.apiKey || d.PreviousID != strconv.Itoa(oldID) {
		t.Errorf("run -o json: %+v\ndocument ids: current %s previous %s", ro, d.CurrentID, d.PreviousID)
	}
	nk, ok := w.acct.Key(newID)
	if !ok || nk.Status != "active" || !strings.HasPrefix(nk.Name, "keyroll digicert-api-key ") {
		t.Errorf("the new key at DigiCert: %+v", nk)
	}
	if k, _ := w.acct.Key(oldID); k.Status != "active" {
		t.Errorf("the old key was revoked inside its overlap: %+v", k)
	}
	w.checkNoLeak([]string{out, errs}, d.Current)

	// The webhook target now authenticates with the new key; past the overlap a run
	// revokes the old one and drops it from the document.
	d.PreviousUntil = time.Now().Add(-time.Minute)
	if _, err := w.store.Write(context.Background(), keyPath, d, ver); err != nil {
		t.Fatal(err)
	}
	code, out, errs = w.run("run")
	t.Log("\n" + out)
	if k, _ := w.acct.Key(oldID); code != 0 || k.Status != "revoked" {
		t.Errorf("run past the overlap: exit %d, old key %+v\n%s%s", code, k, out, errs)
	}
	if d, _ := w.keyDoc(keyPath); d.Previous != "" || d.PreviousID != "" || d.CurrentID != strconv.Itoa(newID) {
		t.Errorf("document after the retirement: previous %q id %q, current_id %s", keyset.Fingerprint(d.Previous), d.PreviousID, d.CurrentID)
	}
	w.checkNoLeak([]string{out, errs}, d.Current)

	// The evidence report shows the API key's kind, its keys' ids and the revocation, and
	// judges it by its own max_age.
	code, out, errs = w.run("evidence", "report", evFile, "--config", w.config)
	t.Log("\n" + out)
	for _, want := range []string{"digicert-api-key (API key, max_age 30d)", fmt.Sprintf(" #%d`", oldID), fmt.Sprintf(" #%d`", newID), "PASS: every key within its cryptoperiod (max_age 30d)"} {
		if !strings.Contains(out, want) {
			t.Errorf("evidence report: exit %d, lacks %q\n%s%s", code, want, out, errs)
		}
	}
	w.checkNoLeak([]string{out, errs}, d.Current)
}

// TestRunHoldsAnAPIKeyStillInUse: an old key used after the promote plus grace is held
// (exit 3, HELD in status, exit 1) until `run --revoke-in-use` revokes it once; a
// document without a key refuses with exit 3 saying where to find it.
func TestRunHoldsAnAPIKeyStillInUse(t *testing.T) {
	w, keyPath := apiKeyWorld(t, "{overlap: 1h, grace: 1m}")
	oldID := w.acct.KeyID()
	if code, out, errs := w.run("run", "--target", "digicert-api-key"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	// A consumer uses the old key long after the promote.
	if err := w.acct.SetKeyLastUsed(oldID, time.Now().Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	d, ver := w.keyDoc(keyPath)
	d.PreviousUntil = time.Now().Add(-time.Minute)
	if _, err := w.store.Write(context.Background(), keyPath, d, ver); err != nil {
		t.Fatal(err)
	}
	code, out, errs := w.run("run", "--target", "digicert-api-key")
	t.Log("\n" + out + errs)
	if k, _ := w.acct.Key(oldID); code != 3 || k.Status != "active" || !strings.Contains(out+errs, "in use") {
		t.Errorf("run with the old key in use: exit %d, old key %+v; want 3 and the key kept", code, k)
	}
	code, out, _ = w.run("status", "--target", "digicert-api-key")
	t.Log("\n" + out)
	if code != 1 || !strings.Contains(out, "HELD") {
		t.Errorf("status of a held key: exit %d\n%s", code, out)
	}
	code, out, errs = w.run("run", "--target", "digicert-api-key", "--revoke-in-use")
	t.Log("\n" + out + errs)
	if k, _ := w.acct.Key(oldID); code != 0 || k.Status != "revoked" {
		t.Errorf("run --revoke-in-use: exit %d, old key %+v", code, k)
	}
	if code, out, _ = w.run("status", "--target", "digicert-api-key"); code != 0 || strings.Contains(out, "HELD") ||
		!regexp.MustCompile(`\s0\s+active\s`).MatchString(out) {
		t.Errorf("status after the revoke: exit %d\n%s", code, out)
	}

	// A document without a key: refused, needs a human, nothing written.
	empty := "keyroll/cli-test/empty-" + keyset.Fingerprint(t.Name())[7:]
	cfg, _ := os.ReadFile(w.config)
	cfg = append(cfg, fmt.Sprintf("  - {name: other-api-key, kind: api_key, vault_path: %q}\n", empty)...)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = w.run("run", "--target", "other-api-key")
	t.Log("\n" + out + errs)
	if code != 3 || !strings.Contains(out+errs, "store the key as current") {
		t.Errorf("run of an api_key target without a document: exit %d\n%s%s", code, out, errs)
	}
}

// TestListenRefusesAnAPIKeyTarget: `keyroll listen --target` of an api_key target exits 2
// (nobody listens for an API key).
func TestListenRefusesAnAPIKeyTarget(t *testing.T) {
	w := newWorld(t, "  - {name: digicert-api-key, kind: api_key, vault_path: keyroll/cli-test/api-key}\n")
	code, _, errs := w.run("listen", "--addr", "127.0.0.1:0", "--target", "digicert-api-key")
	if code != 2 || !strings.Contains(errs, "nobody listens for an API key") {
		t.Errorf("listen --target <api_key target>: exit %d\n%s", code, errs)
	}
}

// TestCheckAPIKeyPerRole runs `keyroll check` for an api_key target whose key has each
// documented role, against the simulator's defaults (docs/design.md, "The API keys": only
// an unrestricted key manages keys and the webhook; View Only reads the webhook). Only the
// unrestricted key can rotate itself; the others fail check (exit 3), saying why.
func TestCheckAPIKeyPerRole(t *testing.T) {
	tests := []struct {
		role     int
		code     int
		lines    []string // in the text report, in order
		webhook  string
		listedOK bool
	}{
		{0, 0, []string{"ok    digicert-api-key: key %d \"check key\" of user 10001: active, unrestricted, created ",
			"ok    digicert-api-key: GET /key?user_id=10001: 3 key(s) (3 active, 0 revoked listed: A10): this key may list its user's keys, so by A1 create and revoke them",
			"ok    digicert-api-key: GET /webhook: 200: this key may read the webhook",
			"ok    digicert-api-key: last_used_date 20",
			"ok    digicert-api-key: unrestricted: by A1 this key may create and revoke its user's keys (rotate itself; it never needs to revoke itself: A4); by A3 it may read and manage the webhook"},
			"200", true},
		{100, 3, []string{"ok    digicert-api-key: key %d \"check key\" of user 10001: active, role 100 \"Orders\", created ",
			"FAIL  digicert-api-key: GET /key?user_id=10001: API key rejected: certcentral: GET /key?user_id=10001: 403 access_denied|missing_permission", ": by A1 this key may not manage keys, so it cannot rotate itself",
			"ok    digicert-api-key: GET /webhook: 403: this key may not read the webhook",
			"FAIL  digicert-api-key: role 100 \"Orders\": by A1 this key may not manage keys: it cannot rotate itself; by A3 it may neither read nor manage the webhook"},
			"403", false},
		{101, 3, []string{"ok    digicert-api-key: key %d \"check key\" of user 10001: active, role 101 \"Orders, Domains, Organizations\", created ",
			"FAIL  digicert-api-key: GET /key?user_id=10001: API key rejected: certcentral: GET /key?user_id=10001: 403 access_denied|missing_permission", ": by A1 this key may not manage keys, so it cannot rotate itself",
			"ok    digicert-api-key: GET /webhook: 403: this key may not read the webhook",
			"FAIL  digicert-api-key: role 101 \"Orders, Domains, Organizations\": by A1 this key may not manage keys: it cannot rotate itself; by A3 it may neither read nor manage the webhook"},
			"403", false},
		{102, 3, []string{"ok    digicert-api-key: key %d \"check key\" of user 10001: active, role 102 \"View Only\", created ",
			"FAIL  digicert-api-key: GET /key?user_id=10001: API key rejected: certcentral: GET /key?user_id=10001: 403 access_denied|missing_permission", ": by A1 this key may not manage keys, so it cannot rotate itself",
			"ok    digicert-api-key: GET /webhook: 200: this key may read the webhook",
			"FAIL  digicert-api-key: role 102 \"View Only\": by A1 this key may not manage keys: it cannot rotate itself; by A3 it may read the webhook, not change it (a webhook target needs an unrestricted key)"},
			"200", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("role %d", tt.role), func(t *testing.T) {
			w, keyPath := apiKeyWorld(t, "{}")
			// A stray key keyroll made for this target and no document holds: the sweep's
			// orphan, which check names when the key may list.
			if _, _, err := w.acct.AddKey(certcentraltest.NewKey{Name: "keyroll digicert-api-key 01-stray"}); err != nil {
				t.Fatal(err)
			}
			id, key, err := w.acct.AddKey(certcentraltest.NewKey{Name: "check key", RoleID: tt.role})
			if err != nil {
				t.Fatal(err)
			}
			_, ver := w.keyDoc(keyPath)
			if _, err := w.store.Write(context.Background(), keyPath, keyset.Document{Current: key, CurrentID: strconv.Itoa(id), CurrentSince: time.Now()}, ver); err != nil {
				t.Fatal(err)
			}
			t.Setenv("KEYROLL_TEST_API_KEY", w.apiKey) // the webhook target keeps the unrestricted key
			cfg, _ := os.ReadFile(w.config)
			cfg = regexp.MustCompile(`api_key_vault: \{[^}]*\}`).ReplaceAll(cfg, []byte("api_key_env: KEYROLL_TEST_API_KEY"))
			if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := w.run("check")
			t.Log("\n" + out)
			if code != tt.code {
				t.Errorf("check: exit %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			rest := out
			for _, l := range tt.lines {
				if strings.Contains(l, "%d") {
					l = fmt.Sprintf(l, id)
				}
				i := strings.Index(rest, l)
				if i < 0 {
					t.Errorf("the report lacks, in order:\n%s", l)
					continue
				}
				rest = rest[i+len(l):]
			}
			if tt.listedOK && !strings.Contains(out, "active key(s) keyroll made that the document does not hold") {
				t.Errorf("the report does not name the orphan:\n%s", out)
			}
			if k, _ := w.acct.Key(id); k.Status != "active" {
				t.Errorf("check changed the key: %+v", k)
			}
			if vv, _ := w.store.Read(context.Background(), keyPath); vv.Version != ver+1 {
				t.Errorf("check wrote the document (version %d)", vv.Version)
			}
			code, out, _ = w.run("check", "-o", "json")
			var rep cli.CheckReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.OK != (tt.code == 0) {
				t.Fatalf("check -o json: %v\n%s", err, out)
			}
			seen := map[string]bool{}
			for _, c := range rep.Checks {
				if c.Target == "digicert-api-key" {
					seen[c.Check] = true
				}
			}
			for _, c := range []string{"api_key", "api_key_keys", "api_key_webhook", "api_key_last_used", "api_key_role"} {
				if !seen[c] {
					t.Errorf("check -o json has no %s line for the API key: %s", c, out)
				}
			}
			w.checkNoLeak([]string{out, errs}, key)
		})
	}
}
