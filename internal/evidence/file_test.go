package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Path() != path {
		t.Errorf("Path = %q", f.Path())
	}
	var written []Record
	prev := GenesisHash
	for i := range 3 {
		in := sample(i)
		in.PrevHash, in.Hash = "caller junk", "caller junk" // overwritten
		rec, err := f.Append(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if rec.PrevHash != prev || !isHash(rec.Hash) {
			t.Errorf("record %d: prev_hash %s hash %s, want prev_hash %s", i, rec.PrevHash, rec.Hash, prev)
		}
		prev = rec.Hash
		written = append(written, rec)
	}
	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, line := range lines {
		var got Record
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		want := written[i]
		if got.Hash != want.Hash || got.PrevHash != want.PrevHash || got.RotationID != want.RotationID ||
			!got.StartedAt.Equal(want.StartedAt) || len(got.Steps) != len(want.Steps) ||
			*got.EndpointUnchanged != *want.EndpointUnchanged || !got.OverlapUntil.Equal(*want.OverlapUntil) {
			t.Errorf("line %d = %+v\nwant %+v", i+1, got, want)
		}
	}
	res, err := VerifyFile(path)
	if err != nil || res.Records != 3 || res.LastHash != prev {
		t.Errorf("VerifyFile = %+v, %v", res, err)
	}
}

func TestFileChainsAcrossReopen(t *testing.T) {
	path, lines := writeChain(t, 2)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.Append(t.Context(), sample(5))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if want := hashOf(t, lines[1]); rec.PrevHash != want {
		t.Errorf("prev_hash after reopen = %s, want %s", rec.PrevHash, want)
	}
	if res, err := VerifyFile(path); err != nil || res.Records != 3 {
		t.Errorf("VerifyFile = %+v, %v", res, err)
	}
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.jsonl")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v, want 0600", fi.Mode().Perm())
	}

	tests := []struct {
		mode   os.FileMode
		refuse bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o604, true},
		{0o660, true},
		{0o644, true},
		{0o666, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#o", tt.mode), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%o.jsonl", tt.mode))
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			f, err := OpenFile(path)
			if !tt.refuse {
				if err != nil {
					t.Fatalf("OpenFile: %v", err)
				}
				f.Close()
				return
			}
			var me *ModeError
			if !errors.As(err, &me) {
				t.Fatalf("OpenFile = %v, want a *ModeError", err)
			}
			want := fmt.Sprintf("%s: mode %#o", path, tt.mode)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error %q does not name %q", err, want)
			}
		})
	}

	if _, err := OpenFile(dir); err == nil {
		t.Error("OpenFile(directory) succeeded")
	}
	if _, err := OpenFile(filepath.Join(dir, "missing", "e.jsonl")); err == nil || !strings.Contains(err.Error(), "evidence: open") {
		t.Errorf("OpenFile in a missing directory = %v", err)
	}
}

func TestOpenFileRefusesBrokenFile(t *testing.T) {
	_, lines := writeChain(t, 2)
	good := joinLines(lines)
	tests := []struct {
		name    string
		content string
		wantIs  error // nil when the file is accepted
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"intact", good, nil, ""},
		{"truncated record", good[:len(good)-20], ErrBrokenTail, "keyroll evidence repair"},
		{"missing final newline", strings.TrimSuffix(good, "\n"), ErrBrokenTail, "not terminated by a newline"},
		{"garbage last line", good + "garbage\n", ErrBrokenTail, "invalid JSON"},
		{"empty last line", good + "\n", ErrNeedsHuman, "empty line"},
		{"edited last record", joinLines([]string{lines[0], strings.Replace(lines[1], "prod-us", "prod-eu", 1)}), ErrNeedsHuman, "altered"},
		{"edited first record", joinLines([]string{strings.Replace(lines[0], "prod-us", "prod-eu", 1), lines[1]}), ErrNeedsHuman, "line 1: record altered"},
		{"unsealed last record", good + `{"target":"x"}` + "\n", ErrNeedsHuman, `no "hash"`},
		{"single long record", strings.Repeat(" ", 10000) + lines[0] + "\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "evidence.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := OpenFile(path)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("OpenFile: %v", err)
				}
				f.Close()
				return
			}
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenFile = %v\nwant %v mentioning %q and the path", err, tt.wantIs, tt.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Error("OpenFile changed a file it refused")
			}
		})
	}
}

func TestAppendRefusesBrokenTail(t *testing.T) {
	path, _ := writeChain(t, 1)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Another writer leaves a partial line after we opened the file.
	if err := appendRaw(path, `{"rotation_id":"trunc`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Append(t.Context(), sample(1)); !errors.Is(err, ErrBrokenTail) || !strings.HasPrefix(err.Error(), "evidence: append "+path) {
		t.Errorf("Append = %v, want ErrBrokenTail", err)
	}
	if lines := readLines(t, path); len(lines) != 2 {
		t.Errorf("Append wrote onto a broken tail: %d lines", len(lines))
	}
}

func appendRaw(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}

func TestAppendAfterClose(t *testing.T) {
	f, err := OpenFile(filepath.Join(t.TempDir(), "e.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := f.Append(t.Context(), sample(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Append(ctx, sample(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context = %v", err)
	}
}

// checkWholeRecords verifies the chain and that every line is one whole record.
func checkWholeRecords(t *testing.T, path string, want int) {
	t.Helper()
	res, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != want {
		t.Errorf("%d records, want %d", res.Records, want)
	}
	seen := map[string]bool{}
	for i, line := range readLines(t, path) {
		var rec Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if seen[rec.RotationID] {
			t.Errorf("line %d: rotation %s written twice", i+1, rec.RotationID)
		}
		seen[rec.RotationID] = true
	}
}

func TestConcurrentAppends(t *testing.T) {
	const goroutines, each = 16, 10
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec := sample(i)
				rec.RotationID = fmt.Sprintf("g%02d-%02d", g, i)
				rec.Steps[1].Detail = strings.Repeat("x", 3000) // lines larger than a pipe buffer
				if _, err := f.Append(t.Context(), rec); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	checkWholeRecords(t, path, goroutines*each)
}

// TestTwoFilesOnOnePath stands in for two processes: each File is its own open file
// description, so they share nothing but the flock and the file.
func TestTwoFilesOnOnePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	open := func() *File {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open(), open()

	t.Run("alternately", func(t *testing.T) {
		for i := range 10 {
			for _, f := range []*File{a, b} {
				rec := sample(i)
				rec.RotationID = fmt.Sprintf("alt-%p-%d", f, i)
				if _, err := f.Append(t.Context(), rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkWholeRecords(t, path, 20)
	})
	t.Run("concurrently", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := range 8 {
			f := []*File{a, b}[g%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					rec := sample(i)
					rec.RotationID = fmt.Sprintf("con-%d-%d", g, i)
					if _, err := f.Append(t.Context(), rec); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		checkWholeRecords(t, path, 20+40)
	})
}

// TestAppendFromTwoProcesses runs this test binary twice as writer processes (see
// TestHelperWriter) appending to one file at once.
func TestAppendFromTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, each = 2, 25
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	var cmds []*exec.Cmd
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "EVIDENCE_HELPER_PATH="+path, "EVIDENCE_HELPER_ID="+strconv.Itoa(p),
			"EVIDENCE_HELPER_N="+strconv.Itoa(each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	checkWholeRecords(t, path, procs*each)
}

func TestHelperWriter(t *testing.T) {
	path := os.Getenv("EVIDENCE_HELPER_PATH")
	if path == "" {
		t.Skip("helper process for TestAppendFromTwoProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv("EVIDENCE_HELPER_N"))
	for i := range n {
		// Open per record, as separate keyroll runs would, racing on the file's creation too.
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rec := sample(i)
		rec.RotationID = fmt.Sprintf("proc%s-%d", os.Getenv("EVIDENCE_HELPER_ID"), i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = f.Append(ctx, rec)
		cancel()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}
