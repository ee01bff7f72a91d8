package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/tsatest"
	"github.com/keyroll/keyroll/vault/evidencevault"
)

// verifyTSA runs `keyroll evidence verify` and scripts/verify-evidence.sh on file with the
// public key and --tsa-ca, and fails unless they agree on the verdict and the line.
func (ew *evidenceWorld) verifyTSA(file, pem, ca string) (int, string) {
	ew.t.Helper()
	code, out, errs := ew.run("evidence", "verify", file, "--public-key", pem, "--tsa-ca", ca)
	if code != 0 && code != 1 {
		ew.t.Fatalf("keyroll evidence verify: exit %d\n%s%s", code, out, errs)
	}
	cmd := exec.Command("../../scripts/verify-evidence.sh", file, pem, "--tsa-ca", ca)
	var sout, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sout, &serr
	err := cmd.Run()
	scode := cmd.ProcessState.ExitCode()
	if err != nil && scode != 1 {
		ew.t.Fatalf("verify-evidence.sh: %v\n%s%s", err, sout.String(), serr.String())
	}
	lineOf := regexp.MustCompile(`^BROKEN [^:]+: line (\d+):`)
	kl, sl := lineOf.FindStringSubmatch(out), lineOf.FindStringSubmatch(sout.String())
	if scode != code || (kl == nil) != (sl == nil) || (kl != nil && kl[1] != sl[1]) {
		ew.t.Errorf("keyroll and the script disagree on %s:\nkeyroll (exit %d): %sscript  (exit %d): %s", filepath.Base(file), code, out, scode, sout.String())
	}
	ew.t.Logf("%s:\n  keyroll: %s  script:  %s", filepath.Base(file), out, sout.String())
	return code, strings.TrimSpace(out)
}

// timestampWith adds evidence.timestamp with tsa's URL to the world's configuration.
func (ew *evidenceWorld) timestampWith(tsa *tsatest.TSA) {
	ew.t.Helper()
	cfg, _ := os.ReadFile(ew.config)
	cfg = bytes.Replace(cfg, []byte("anchor: "+ew.anchor+"}"), []byte(fmt.Sprintf("anchor: %s, timestamp: {url: %q}}", ew.anchor, tsa.URL)), 1)
	if err := os.WriteFile(ew.config, cfg, 0o600); err != nil {
		ew.t.Fatal(err)
	}
}

// wrongDigest asks its TSA for a token over another digest than the record's.
type wrongDigest struct{ evidence.TSAClient }

func (w wrongDigest) Timestamp(ctx context.Context, d []byte) ([]byte, error) {
	d = append([]byte(nil), d...)
	d[0] ^= 0xff
	return w.TSAClient.Timestamp(ctx, d)
}

// TestEvidenceTimestamps: with evidence.timestamp every run ends with a token from the
// (local, openssl) TSA over the file's head; a TSA that is down fails no rotation, leaves
// the records pending and the next run covers them; keyroll and the script give the same
// verdicts on a good file, a token for another hash and a token from another TSA.
func TestEvidenceTimestamps(t *testing.T) {
	tsa, other := tsatest.New(t, "Good"), tsatest.New(t, "Other")
	ew := newEvidenceWorld(t)
	ew.timestampWith(tsa)
	if code, out, errs := ew.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	tsa.SetDown(true)
	code, out, errs := ew.run("run", "--force")
	if code != 0 || !strings.Contains(errs, "evidence not timestamped yet") {
		t.Fatalf("run with the TSA down: exit %d, want 0 and a warning\n%s%s", code, out, errs)
	}
	pem := ew.publicKey()
	if code, line := ew.verifyTSA(ew.file, pem, tsa.CAFile); code != 0 || !strings.Contains(line, "1 timestamps valid (Good TSA), 1 record(s) pending") {
		t.Errorf("verify with one pending: exit %d %s", code, line)
	}
	tsa.SetDown(false)
	before := tsa.Requests()
	if code, out, errs := ew.run("run"); code != 0 {
		t.Fatalf("run after the TSA is back: exit %d\n%s%s", code, out, errs)
	}
	if n := tsa.Requests() - before; n != 1 {
		t.Errorf("%d TSA requests for one run, want 1", n)
	}
	code, line := ew.verifyTSA(ew.file, pem, tsa.CAFile)
	if code != 0 || !strings.Contains(line, "2 timestamps valid (Good TSA), 0 record(s) pending") {
		t.Errorf("verify after the catch-up: exit %d %s", code, line)
	}
	if code, out, _ := ew.run("evidence", "verify", ew.file, "--public-key", pem, "--tsa-ca", tsa.CAFile, "--config", ew.config, "--vault"); code != 0 {
		t.Errorf("verify with the anchor's history: exit %d %s", code, out)
	}
	// Files of the same records, timestamped wrongly, signed by the real Transit key.
	b, _ := os.ReadFile(ew.file)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") { // for the closing note
		var r evidence.Record
		_ = json.Unmarshal([]byte(l), &r)
		t.Logf("record seq %d type %q outcome %q: %d bytes", r.Seq, r.Type, r.Outcome, len(l)+1)
	}
	var recs []evidence.Record
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r evidence.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Type == "" {
			recs = append(recs, r)
		}
	}
	build := func(name string, ts evidence.Timestamper) string {
		path := filepath.Join(t.TempDir(), name)
		f, _, err := evidence.Open(context.Background(), path, evidence.Options{Signer: evidencevault.NewSigner(ew.vault.Client(t), "transit", ew.key), Timestamper: ts, Actor: "a"})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, r := range recs {
			if _, err := f.Append(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.Timestamp(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		return path
	}
	n := len(recs) + 1
	if code, line := ew.verifyTSA(build("wrong-hash.jsonl", wrongDigest{evidence.TSAClient{URL: tsa.URL}}), pem, tsa.CAFile); code != 1 || !strings.Contains(line, fmt.Sprintf("line %d: timestamp token is for another hash", n)) {
		t.Errorf("token for another hash: exit %d %s", code, line)
	}
	if code, line := ew.verifyTSA(build("other-tsa.jsonl", evidence.TSAClient{URL: other.URL}), pem, tsa.CAFile); code != 1 || !strings.Contains(line, fmt.Sprintf("line %d: timestamp token is not signed by a TSA of --tsa-ca", n)) {
		t.Errorf("token from another TSA: exit %d %s", code, line)
	}
}
