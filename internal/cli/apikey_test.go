package cli_test

import (
	"strings"
	"testing"
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
