package evidence_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/tsatest"
)

func roots(t *testing.T, pemFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in", pemFile)
	}
	return p
}

func attempt(i int) evidence.Record {
	now := time.Now().UTC()
	return evidence.Record{RotationID: "r", Target: "t", Trigger: evidence.TriggerCronJob, Actor: "a",
		StartedAt: now, FinishedAt: now, Outcome: evidence.OutcomeSkipped, Steps: []evidence.Step{{Name: "reconcile", Time: now, Outcome: "skipped", Detail: strings.Repeat("x", i)}}}
}

// TestTimestampsAgainstLocalTSA: tokens from openssl's TSA verify; a token for another hash
// and a token from another TSA are broken; a TSA that is down leaves the records pending
// and the next call covers them all.
func TestTimestampsAgainstLocalTSA(t *testing.T) {
	ctx := t.Context()
	tsa, other := tsatest.New(t, "Good"), tsatest.New(t, "Other")
	path := filepath.Join(t.TempDir(), "e.jsonl")
	f, _, err := evidence.Open(ctx, path, evidence.Options{Timestamper: evidence.TSAClient{URL: tsa.URL}, Actor: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 2 {
		if _, err := f.Append(ctx, attempt(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.Timestamp(ctx, tsa.URL); err != nil || n != 0 {
		t.Fatalf("Timestamp = %d, %v", n, err)
	}
	// Down: pending, the run goes on.
	tsa.SetDown(true)
	f.Append(ctx, attempt(3))
	f.Append(ctx, attempt(4))
	n, err := f.Timestamp(ctx, tsa.URL)
	if !errors.Is(err, evidence.ErrTimestampPending) || n != 2 {
		t.Fatalf("Timestamp with the TSA down = %d, %v; want 2 pending", n, err)
	}
	res, err := evidence.VerifyFileWith(path, evidence.VerifyOptions{TSARoots: roots(t, tsa.CAFile)})
	if err != nil || res.Timestamps != 1 || res.Untimestamped != 2 {
		t.Fatalf("verify with pending: %+v, %v", res, err)
	}
	// Up again: the next call covers both.
	tsa.SetDown(false)
	if n, err := f.Timestamp(ctx, tsa.URL); err != nil || n != 0 {
		t.Fatalf("catch-up Timestamp = %d, %v", n, err)
	}
	res, err = evidence.VerifyFileWith(path, evidence.VerifyOptions{TSARoots: roots(t, tsa.CAFile)})
	if err != nil || res.Timestamps != 2 || res.Untimestamped != 0 || len(res.TSANames) != 1 || res.TSANames[0] != "Good TSA" {
		t.Fatalf("verify after catch-up: %+v, %v", res, err)
	}
	if b, err := os.ReadFile(path); err == nil { // for the closing note
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r evidence.Record
			_ = json.Unmarshal([]byte(l), &r)
			t.Logf("seq %d type %q: %d bytes", r.Seq, r.Type, len(l)+1)
		}
	}
	// Another TSA's root does not verify these tokens.
	if _, err := evidence.VerifyFileWith(path, evidence.VerifyOptions{TSARoots: roots(t, other.CAFile)}); err == nil || !strings.Contains(err.Error(), "not signed by a TSA of --tsa-ca") {
		t.Errorf("verify with another TSA's root: %v", err)
	}
	// A token for another hash in place of the right one.
	wrong := filepath.Join(t.TempDir(), "wrong.jsonl")
	g, _, err := evidence.Open(ctx, wrong, evidence.Options{Timestamper: otherHash{evidence.TSAClient{URL: tsa.URL}}, Actor: "a"})
	if err != nil {
		t.Fatal(err)
	}
	g.Append(ctx, attempt(1))
	if _, err := g.Timestamp(ctx, tsa.URL); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if _, err := evidence.VerifyFileWith(wrong, evidence.VerifyOptions{TSARoots: roots(t, tsa.CAFile)}); err == nil || !strings.Contains(err.Error(), "line 2: timestamp token is for another hash") {
		t.Errorf("verify a token for another hash: %v", err)
	}
	_ = json.Valid
}

// otherHash asks for a token over a digest other than the one it is given.
type otherHash struct{ evidence.TSAClient }

func (o otherHash) Timestamp(ctx context.Context, digest []byte) ([]byte, error) {
	d := append([]byte(nil), digest...)
	d[0] ^= 0xff
	return o.TSAClient.Timestamp(ctx, d)
}
