package evidence

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// keySigner signs like Vault Transit with an ed25519 key of the given version.
type keySigner struct {
	priv    ed25519.PrivateKey
	version int
	err     error
	calls   int
}

func newKeySigner(t *testing.T) *keySigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &keySigner{priv: priv, version: 1}
}

func (s *keySigner) Sign(_ context.Context, msg []byte) (string, error) {
	s.calls++
	if s.err != nil {
		return "", s.err
	}
	return fmt.Sprintf("vault:v%d:%s", s.version, base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, msg))), nil
}

func (s *keySigner) keys() []crypto.PublicKey { return []crypto.PublicKey{s.priv.Public()} }

// memAnchor is an Anchor in memory with KV v2's check-and-set.
type memAnchor struct {
	mu      sync.Mutex
	head    Head
	version int
	err     error // returned by WriteHead when set
	writes  int
	reads   int
	// beforeWrite, when set, runs before each WriteHead, outside the lock.
	beforeWrite func()
}

func (a *memAnchor) ReadHead(context.Context) (Head, int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reads++
	return a.head, a.version, nil
}

func (a *memAnchor) WriteHead(_ context.Context, h Head, cas int) (int, error) {
	if a.beforeWrite != nil {
		a.beforeWrite()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return 0, a.err
	}
	if cas != a.version {
		return 0, fmt.Errorf("cas %d, version %d: %w", cas, a.version, ErrAnchorConflict)
	}
	a.writes++
	a.head, a.version = h, a.version+1
	return a.version, nil
}

func (a *memAnchor) get() Head {
	h, _, _ := a.ReadHead(context.Background())
	return h
}

// signedFile appends n records to a new signed, anchored file.
func signedFile(t *testing.T, n int, s *keySigner, a *memAnchor) (string, []string) {
	t.Helper()
	return writeChainWith(t, n, Options{Signer: s, Anchor: a})
}

func TestSignedAnchoredFile(t *testing.T) {
	s, a := newKeySigner(t), &memAnchor{}
	path, lines := signedFile(t, 3, s, a)
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf(`"seq":%d,`, i+1)) || !strings.Contains(l, `"signature":"vault:v1:`) {
			t.Errorf("line %d: no seq or signature: %s", i+1, l)
		}
	}
	h := a.get()
	res, err := VerifyFileWith(path, VerifyOptions{Keys: s.keys(), Head: &h})
	if err != nil || res.Records != 3 || res.Signed != 3 || !res.Anchored || fmt.Sprint(res.KeyVersions) != "[1]" {
		t.Fatalf("VerifyFileWith = %+v, %v", res, err)
	}
	if h.Seq != 3 || h.Hash != res.LastHash || a.writes != 3 || s.calls != 3 || a.reads != 2 {
		t.Errorf("anchor %+v after %d reads (one by Open, one here), %d writes, %d signatures; want seq 3, hash %s, 3 each",
			h, a.reads, a.writes, s.calls, res.LastHash)
	}
}

func TestVerifyDetectsSignatureAndAnchorProblems(t *testing.T) {
	s, a := newKeySigner(t), &memAnchor{}
	_, lines := signedFile(t, 3, s, a)
	head := a.get()
	other := newKeySigner(t)
	forged := func(l []string) string { // the same records, rebuilt and signed by another key
		prev := GenesisHash
		var out []string
		for i := range l {
			rec := sample(i)
			line, err := seal(&rec, prev, int64(i+1), func(h string) (string, error) { return other.Sign(t.Context(), []byte(h)) })
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.TrimSuffix(string(line), "\n"))
			prev = rec.Hash
		}
		return joinLines(out)
	}
	strip := func(l string) string {
		i := strings.Index(l, `,"signature":`)
		return l[:i] + "}"
	}
	unsigned := func(n int) []string { // n unsigned records written before signing was enabled
		_, l := writeChain(t, n)
		return l
	}
	tests := []struct {
		name     string
		content  string
		o        VerifyOptions
		wantLine int
		want     string
	}{
		{"forged with another key", forged(lines), VerifyOptions{Keys: s.keys()}, 1, "does not verify with the public key"},
		{"all signatures stripped", joinLines([]string{strip(lines[0]), strip(lines[1]), strip(lines[2])}), VerifyOptions{Keys: s.keys()}, 1, "not signed"},
		{"last signature stripped, chain only", joinLines([]string{lines[0], lines[1], strip(lines[2])}), VerifyOptions{}, 3, "signature was stripped"},
		{"signatures before --signed-from stripped", joinLines([]string{strip(lines[0]), strip(lines[1]), lines[2]}), VerifyOptions{Keys: s.keys(), SignedFrom: 3}, 0, ""},
		{"--signed-from past a stripped one", joinLines([]string{strip(lines[0]), strip(lines[1]), strip(lines[2])}), VerifyOptions{Keys: s.keys(), SignedFrom: 2}, 2, "--signed-from 2"},
		{"unsigned file with a key", joinLines(unsigned(2)), VerifyOptions{Keys: s.keys()}, 1, "--signed-from"},
		{"unsigned file, chain only", joinLines(unsigned(2)), VerifyOptions{}, 0, ""},
		{"garbled signature", joinLines([]string{strings.Replace(lines[0], `"vault:v1:`, `"vault:vX:`, 1)}), VerifyOptions{Keys: s.keys()}, 1, "key version"},
		{"edited in the middle", joinLines([]string{lines[0], strings.Replace(lines[1], "prod-us", "prod-eu", 1), lines[2]}), VerifyOptions{Keys: s.keys()}, 2, "record altered"},
		{"truncated tail", joinLines(lines[:2]), VerifyOptions{Keys: s.keys(), Head: &head}, 3, "ends at seq 2 but Vault's anchor is at seq 3"},
		{"rolled back", joinLines(lines[:1]), VerifyOptions{Head: &head}, 2, "an older copy"},
		{"rewritten head", joinLines([]string{strip(lines[0]), strip(lines[1]), sealLine(t, sample(7), hashOf(t, lines[1]), 3)}), VerifyOptions{Head: &head}, 3, "anchor for seq 3"},
		{"not anchored yet", joinLines(lines), VerifyOptions{Head: &Head{Seq: 2, Hash: hashOf(t, lines[1])}}, 3, "after Vault's anchored head"},
		{"good", joinLines(lines), VerifyOptions{Keys: s.keys(), Head: &head}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := VerifyWith(strings.NewReader(tt.content), tt.o)
			if tt.wantLine == 0 {
				if err != nil {
					t.Fatalf("VerifyWith = %v", err)
				}
				return
			}
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Line != tt.wantLine || !strings.Contains(ce.Reason, tt.want) {
				t.Errorf("VerifyWith = %+v, %v\nwant line %d: ...%s...", res, err, tt.wantLine, tt.want)
			}
		})
	}
}

func TestAnchorLoserRereads(t *testing.T) {
	s, a := newKeySigner(t), &memAnchor{}
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	open := func() *File {
		f, _, err := Open(t.Context(), path, Options{Signer: s, Anchor: a})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	f1, f2 := open(), open()
	// f2 appends and anchors after f1 read the anchor's version: f1's check-and-set loses,
	// f1 re-reads and writes on the new version.
	if _, err := f1.Append(t.Context(), sample(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := f2.Append(t.Context(), sample(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f1.Append(t.Context(), sample(2)); err != nil {
		t.Fatal(err)
	}
	if h := a.get(); h.Seq != 3 || a.version != 3 {
		t.Errorf("anchor %+v version %d, want seq 3 version 3", h, a.version)
	}
	// Many writers at once: the anchor never moves backwards and ends at the file's end.
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := int64(0)
	a.beforeWrite = func() {
		mu.Lock()
		defer mu.Unlock()
		if h := a.get(); h.Seq < last {
			t.Errorf("anchor moved backwards: %d after %d", h.Seq, last)
		}
		last = a.get().Seq
	}
	for _, f := range []*File{f1, f2, open()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := f.Append(context.Background(), sample(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	h := a.get()
	res, err := VerifyFileWith(path, VerifyOptions{Keys: s.keys(), Head: &h})
	if err != nil || res.Records != 33 {
		t.Errorf("after concurrent appends: %+v, %v (anchor %+v)", res, err, h)
	}
}

func TestAnchorFailureKeepsRecord(t *testing.T) {
	s, a := newKeySigner(t), &memAnchor{}
	path, _ := signedFile(t, 1, s, a)
	f, _, err := Open(t.Context(), path, Options{Signer: s, Anchor: a})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a.err = errors.New("vault: 503")
	rec, err := f.Append(t.Context(), sample(1))
	if !errors.Is(err, ErrNotAnchored) || rec.Seq != 2 || rec.Hash == "" {
		t.Fatalf("Append with a failing anchor = %+v, %v; want the record written and ErrNotAnchored", rec, err)
	}
	if n := len(readLines(t, path)); n != 2 {
		t.Errorf("%d lines, want the record kept", n)
	}
	h := a.get()
	if _, err := VerifyFileWith(path, VerifyOptions{Head: &h}); err == nil || !strings.Contains(err.Error(), "after Vault's anchored head") {
		t.Errorf("verify with the stale anchor = %v", err)
	}
	// The next open leaves the anchor as it is (a late anchor of an old record looks like a
	// rewritten history); the next append anchors its own head, which covers seq 2.
	a.err = nil
	f2, _, err := Open(t.Context(), path, Options{Signer: s, Anchor: a})
	if err != nil {
		t.Fatal(err)
	}
	if h := a.get(); h.Seq != 1 {
		t.Errorf("anchor after reopen = %+v, want still seq 1", h)
	}
	rec3, err := f2.Append(t.Context(), sample(3))
	f2.Close()
	if h := a.get(); err != nil || h.Seq != 3 || h.Hash != rec3.Hash {
		t.Errorf("anchor after the next append = %+v, %v; want seq 3 %s", h, err, rec3.Hash)
	}
	// A signing failure writes nothing.
	s.err = errors.New("transit down")
	if _, err := f.Append(t.Context(), sample(2)); err == nil || errors.Is(err, ErrNotAnchored) {
		t.Errorf("Append with a failing signer = %v", err)
	}
	if n := len(readLines(t, path)); n != 3 {
		t.Errorf("%d lines after a failed signature, want 3", n)
	}
}

func TestOpenRepairsTornTail(t *testing.T) {
	s, a := newKeySigner(t), &memAnchor{}
	path, lines := signedFile(t, 2, s, a)
	torn := `{"seq":3,"rotation_id":"01JN`
	if err := appendRaw(path, torn); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(t.Context(), path, Options{Signer: s, Anchor: a}); !errors.Is(err, ErrBrokenTail) {
		t.Fatalf("Open without Repair = %v, want ErrBrokenTail", err)
	}
	// The signer fails: the torn bytes stay where they are until a repair record can be written.
	before, _ := os.ReadFile(path)
	s.err = errors.New("transit down")
	now := func() time.Time { return t0 }
	if _, _, err := Open(t.Context(), path, Options{Signer: s, Anchor: a, Repair: true, Now: now}); err == nil || errors.Is(err, ErrNeedsHuman) {
		t.Fatalf("Open with a failing signer = %v, want a retryable error", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a failed repair changed the file")
	}
	s.err = nil
	f, rep, err := Open(t.Context(), path, Options{Signer: s, Anchor: a, Repair: true, Actor: "test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if rep == nil || rep.Bytes != int64(len(torn)) || rep.File != "evidence.jsonl.torn-20250303T030000Z-2" {
		t.Fatalf("Repair = %+v", rep)
	}
	moved, err := os.ReadFile(filepath.Join(filepath.Dir(path), rep.File))
	if err != nil || string(moved) != torn {
		t.Errorf("moved aside: %q, %v", moved, err)
	}
	got := readLines(t, path)
	if len(got) != 3 || got[1] != lines[1] || !strings.Contains(got[2], `"type":"repair"`) ||
		!strings.Contains(got[2], fmt.Sprintf(`"bytes":%d,"sha256":"%s"`, len(torn), rep.SHA256)) {
		t.Errorf("after repair:\n%s", strings.Join(got, "\n"))
	}
	h := a.get()
	if res, err := VerifyFileWith(path, VerifyOptions{Keys: s.keys(), Head: &h}); err != nil || res.Records != 3 {
		t.Errorf("verify after repair = %+v, %v", res, err)
	}
	if _, err := f.Append(t.Context(), sample(3)); err != nil {
		t.Error(err)
	}
}

func TestOpenNeedsHuman(t *testing.T) {
	s, a := newKeySigner(t), &memAnchor{}
	path, lines := signedFile(t, 3, s, a)
	tests := []struct {
		name    string
		content *string // nil: remove the file
		o       Options
		want    string
	}{
		{"missing file after a non-empty anchor", nil, Options{Signer: s, Anchor: a}, "does not exist but Vault's anchor is at seq 3"},
		{"truncated", ptr(joinLines(lines[:2])), Options{Signer: s, Anchor: a}, "ends at seq 2"},
		{"broken in the middle", ptr(joinLines([]string{lines[0], "{}", lines[2]})), Options{Signer: s, Anchor: a, Repair: true}, "line 2"},
		{"torn after a truncation", ptr(joinLines(lines[:1]) + lines[1][:30]), Options{Signer: s, Anchor: a, Repair: true}, "ends at seq 1"},
		{"signed file, no signer", ptr(joinLines(lines)), Options{}, "set evidence.signing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content == nil {
				os.Remove(path)
			} else if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Open(t.Context(), path, tt.o)
			if !errors.Is(err, ErrNeedsHuman) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v\nwant ErrNeedsHuman mentioning %q", err, tt.want)
			}
			if _, serr := os.Stat(path); tt.content == nil && serr == nil {
				t.Error("Open created the missing file")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
