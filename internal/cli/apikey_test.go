package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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
