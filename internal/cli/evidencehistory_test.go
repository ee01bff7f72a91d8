package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/tsatest"
	"github.com/keyroll/keyroll/vault"
	"github.com/keyroll/keyroll/vault/evidencevault"
)

// jobToken returns a Vault token holding only the policy `keyroll policy job` prints for
// the world's configuration: what a pod running as the keyroll service account gets.
func (ew *evidenceWorld) jobToken() string {
	ew.t.Helper()
	code, hcl, errs := ew.run("policy", "job")
	if code != 0 {
		ew.t.Fatalf("policy job: exit %d\n%s", code, errs)
	}
	name := "job-" + ew.key
	ew.vault.Policy(ew.t, name, hcl)
	return ew.vault.Token(ew.t, time.Hour, name)
}

// runs makes n records, each anchored.
func (ew *evidenceWorld) runs(n int) {
	ew.t.Helper()
	for i := range n {
		args := []string{"run", "--force"}
		if i == 0 {
			args = args[:1]
		}
		if code, out, errs := ew.run(args...); code != 0 {
			ew.t.Fatalf("run %d: exit %d\n%s%s", i, code, out, errs)
		}
	}
}

// TestEvidenceRollbackWithJobToken replays the reviewer's rollback: with the job's own
// token, the file is cut back to seq 2 and the anchor written back to seq 2. The head alone
// matches; the anchor's history does not.
func TestEvidenceRollbackWithJobToken(t *testing.T) {
	ctx := context.Background()
	ew := newEvidenceWorld(t)
	ew.runs(5)
	pem := ew.publicKey()
	if code, out, _ := ew.run("evidence", "verify", ew.file, "--public-key", pem, "--config", ew.config, "--vault"); code != 0 ||
		!strings.Contains(out, "anchor history: 5 versions from version 1") {
		t.Fatalf("verify before: exit %d %s", code, out)
	}
	job := vault.NewStore(ew.vault.ClientWithToken(t, ew.jobToken()), "secret")
	b, _ := os.ReadFile(ew.file)
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	if err := os.WriteFile(ew.file, []byte(lines[0]+lines[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	var rec2 evidence.Record
	if err := json.Unmarshal([]byte(lines[1]), &rec2); err != nil {
		t.Fatal(err)
	}
	_, ver, err := job.ReadData(ctx, ew.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.WriteData(ctx, ew.anchor, map[string]any{"seq": 2, "hash": rec2.Hash, "time": rec2.FinishedAt.Format(time.RFC3339Nano)}, ver); err != nil {
		t.Fatalf("the job's token writes the anchor back: %v", err)
	}
	code, out, _ := ew.run("evidence", "verify", ew.file, "--public-key", pem, "--config", ew.config, "--vault")
	t.Logf("keyroll evidence verify after the rollback (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "line 3: Vault's anchor went backwards: version 6") {
		t.Errorf("verify after the rollback: exit %d %s; want BROKEN at line 3, anchor went backwards", code, out)
	}
	// The head alone (the old check) would have said OK: the file ends where the anchor is.
	if _, err := evidence.VerifyFileWith(ew.file, evidence.VerifyOptions{Head: &evidence.Head{Seq: 2, Hash: rec2.Hash}}); err != nil {
		t.Errorf("head-only check: %v", err)
	}
}

// TestEvidenceRewriteResignedIsCaught: with the job's token, record 2 is changed from
// failed to rotated, every record from it re-signed with the real Transit key and a new,
// higher head anchored. Signatures and the head hold; the history does not.
func TestEvidenceRewriteResignedIsCaught(t *testing.T) {
	ctx := context.Background()
	ew := newEvidenceWorld(t)
	ew.runs(4)
	pem := ew.publicKey()
	jobClient := ew.vault.ClientWithToken(t, ew.jobToken())
	b, _ := os.ReadFile(ew.file)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	rewritten := filepath.Join(t.TempDir(), "rewritten.jsonl")
	f, _, err := evidence.Open(ctx, rewritten, evidence.Options{Signer: evidencevault.NewSigner(jobClient, "transit", ew.key)})
	if err != nil {
		t.Fatal(err)
	}
	var last evidence.Record
	for i, l := range append(lines, lines[len(lines)-1]) { // one record more: a higher head
		var rec evidence.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			rec.Actor = "someone else"
		}
		if last, err = f.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := os.Rename(rewritten, ew.file); err != nil {
		t.Fatal(err)
	}
	job := vault.NewStore(jobClient, "secret")
	_, ver, err := job.ReadData(ctx, ew.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.WriteData(ctx, ew.anchor, map[string]any{"seq": last.Seq, "hash": last.Hash, "time": time.Now().UTC().Format(time.RFC3339Nano)}, ver); err != nil {
		t.Fatalf("the job's token anchors the rewritten head: %v", err)
	}
	if code, out, _ := ew.run("evidence", "verify", ew.file, "--public-key", pem); code != 0 {
		t.Fatalf("signatures of the rewritten file: exit %d %s; want them valid (the job can sign)", code, out)
	}
	code, out, _ := ew.run("evidence", "verify", ew.file, "--public-key", pem, "--config", ew.config, "--vault")
	t.Logf("keyroll evidence verify after the rewrite (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "line 2: record hashes to") || !strings.Contains(out, "rewritten after it was anchored") {
		t.Errorf("verify after the rewrite: exit %d %s", code, out)
	}
}

// TestEvidenceReportBrokenExits1: the report of a good file, with the key, the anchor's
// history, the timestamps and the schedule, says VERIFIED and judges; of a file with a
// rotation record edited (rotated to failed), it
// exits 1, says BROKEN at the top and says PASS nowhere, in every format.
func TestEvidenceReportBrokenExits1(t *testing.T) {
	ew := newEvidenceWorld(t)
	tsa := tsatest.New(t, "Report")
	ew.timestampWith(tsa)
	ew.runs(2)
	if code, out, errs := ew.run("run"); code != 0 { // skipped: not due
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	pem := ew.publicKey()
	args := func(file, format string) []string {
		return []string{"evidence", "report", file, "--format", format, "--public-key", pem, "--tsa-ca", tsa.CAFile, "--config", ew.config, "--vault"}
	}
	dir := os.Getenv("KEYROLL_REPORT_DIR") // to look at the pages in a browser
	code, out, errs := ew.run(args(ew.file, "html")...)
	if code != 0 || !strings.Contains(out, `class="banner verified"`) || !strings.Contains(out, "PASS") || !strings.Contains(out, "skipped") {
		t.Fatalf("report of the good file: exit %d\n%s", code, errs)
	}
	if dir != "" {
		os.WriteFile(filepath.Join(dir, "good.html"), []byte(out), 0o644)
	}
	b, _ := os.ReadFile(ew.file)
	lines := strings.SplitAfter(string(b), "\n")
	lines[2] = strings.Replace(lines[2], `"outcome":"rotated"`, `"outcome":"failed"`, 1) // seq 3: the forced rotation
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	if err := os.WriteFile(tampered, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"html", "md", "csv"} {
		code, out, errs := ew.run(args(tampered, format)...)
		if code != 1 || !strings.Contains(out, "BROKEN: line 3: record altered") || strings.Contains(out, "PASS") || !strings.Contains(out, "NOT JUDGED") {
			t.Errorf("report (%s) of the tampered file: exit %d, want 1, BROKEN and no PASS\n%s\n%s", format, code, errs, out)
		}
		if format == "html" && !strings.Contains(out, `class="banner broken"`) {
			t.Errorf("no red banner")
		}
		if dir != "" {
			os.WriteFile(filepath.Join(dir, "tampered."+format), []byte(out), 0o644)
		}
	}
}
