package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/evidence"
)

// evidenceFile writes a chain of n records to dir/evidence.jsonl.
func evidenceFile(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "evidence.jsonl")
	f, err := evidence.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	for i := range n {
		if _, err := f.Append(context.Background(), evidence.Record{Target: fmt.Sprintf("t%d", i), Trigger: evidence.TriggerCronJob,
			StartedAt: start, FinishedAt: start.Add(time.Minute), Outcome: evidence.OutcomeRotated, NewFingerprint: "sha256:0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvidenceExportIsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := evidenceFile(t, dir, 3)
	want, _ := os.ReadFile(path)
	code, out, errs := runCLI(t, "evidence", "export", path)
	if code != 0 || errs != "" || out != string(want) {
		t.Fatalf("evidence export: exit %d, stderr %q; stdout is the file: %v", code, errs, out == string(want))
	}
	// What `kubectl logs` gave back verifies as the original does.
	copyPath := filepath.Join(t.TempDir(), "exported.jsonl")
	if err := os.WriteFile(copyPath, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "evidence", "verify", copyPath); code != 0 || !strings.HasPrefix(out, "OK ") {
		t.Errorf("verify of the export: exit %d\n%s%s", code, out, errs)
	}
}

func TestEvidenceExportTar(t *testing.T) {
	dir := t.TempDir()
	path := evidenceFile(t, dir, 2)
	torn := path + ".torn-20260302T030000Z"
	if err := os.WriteFile(torn, []byte(`{"seq":3,"tar`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.jsonl"), []byte("not this one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "evidence", "export", "--format", "tar", path)
	if code != 0 || errs != "" {
		t.Fatalf("export --format tar: exit %d, %s", code, errs)
	}
	got := map[string][]byte{}
	var names []string
	tr := tar.NewReader(strings.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name], names = b, append(names, h.Name)
	}
	wantNames := []string{"evidence.jsonl", filepath.Base(torn), "SHA256SUMS"}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("archive holds %v, want %v", names, wantNames)
	}
	var sums bytes.Buffer
	for _, f := range []string{path, torn} {
		b, _ := os.ReadFile(f)
		if !bytes.Equal(got[filepath.Base(f)], b) {
			t.Errorf("%s differs in the archive", filepath.Base(f))
		}
		s := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), filepath.Base(f))
	}
	if string(got["SHA256SUMS"]) != sums.String() {
		t.Errorf("SHA256SUMS:\n%s\nwant\n%s", got["SHA256SUMS"], sums.String())
	}
}

func TestEvidenceExportErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"evidence", "export", filepath.Join(dir, "missing.jsonl")}, cli.ExitUsage, "missing.jsonl"},
		{[]string{"evidence", "export", dir}, cli.ExitUsage, "not a regular file"},
		{[]string{"evidence", "export", "--format", "zip", dir}, cli.ExitUsage, "--format"},
		{[]string{"evidence", "export"}, cli.ExitUsage, "FILE is missing"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, tt.args...)
		if code != tt.code || out != "" || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d naming %q", tt.args, code, out, errs, tt.code, tt.want)
		}
	}
}
