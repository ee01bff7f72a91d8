package rotate_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// barrierClock's Sleep returns only once n sleepers are waiting at the same time: it
// proves that the waits of a fleet overlap (if each held a work slot, only `parallel` could
// ever wait together and the barrier would never open).
type barrierClock struct {
	mu      sync.Mutex
	n       int
	waiting int
	open    chan struct{}
}

func (c *barrierClock) Now() time.Time { return time.Now() }

func (c *barrierClock) Sleep(ctx context.Context, _ time.Duration) error {
	c.mu.Lock()
	c.waiting++
	if c.waiting == c.n {
		close(c.open)
	}
	c.mu.Unlock()
	select {
	case <-c.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return fmt.Errorf("only %d of %d rotations were waiting at once", c.waiting, c.n)
	}
}

func TestFleetWaitsOverlap(t *testing.T) {
	const n, parallel = 16, 2
	store := newMemStore()
	sim := certcentraltest.NewServer(certcentraltest.WithUpdateContact(certcentraltest.ContactNever))
	defer sim.Close()
	var targets []rotate.Target
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("fleet-key-%02d-%s", i, strings.Repeat("k", 20))
		secret, _ := keyset.Generate(48)
		sim.AddAccount(key).SetWebhook(certcentraltest.Webhook{Endpoint: "https://listener.invalid/hook", Secret: secret,
			Events: []string{"certificate_issued"}, Status: certcentraltest.StatusActive})
		api, err := certcentral.New(certcentral.Config{BaseURL: sim.URL(), APIKey: key, NoLimiter: true})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, rotate.Target{Name: fmt.Sprintf("t%02d", i), VaultPath: fmt.Sprintf("fleet/t%02d", i), API: certcentral.RotateAPI{Client: api}})
	}
	clock := &barrierClock{n: n, open: make(chan struct{})}
	e := &rotate.Engine{Store: store, Clock: clock, Log: zerolog.Nop()}
	p := policy()
	p.VerifyListener = false
	var mu sync.Mutex
	finished := 0
	results := e.RotateAll(context.Background(), targets, p, rotate.Options{}, parallel, func(rotate.Result) {
		mu.Lock()
		finished++
		mu.Unlock()
	})
	for _, r := range results {
		if r.Err != nil || r.Outcome != evidence.OutcomeRotated {
			t.Errorf("%s: %s %v", r.Target, r.Outcome, r.Err)
		}
	}
	if finished != n {
		t.Errorf("progress callback ran %d times, want %d", finished, n)
	}
}

// TestFleetFailureIsolated: a target whose webhook is inactive fails alone.
func TestFleetFailureIsolated(t *testing.T) {
	f := newFixture(t, newMemStore())
	bad := newFixture(t, newMemStore())
	_ = bad.acct.SetStatus(certcentraltest.StatusInactive)
	badTarget := bad.target()
	badTarget.Name = "bad"
	e := f.engine()
	e.Store = f.store
	res := e.RotateAll(context.Background(), []rotate.Target{f.target(), badTarget}, policy(), rotate.Options{}, 4, nil)
	if res[0].Err != nil || res[1].Err == nil {
		t.Fatalf("results: %v / %v", res[0].Err, res[1].Err)
	}
	f.checkSafe("healthy target next to a failing one")
}
