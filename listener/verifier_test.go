package listener_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
	"github.com/keyroll/keyroll/vault"
)

func TestVerifyAcceptSet(t *testing.T) {
	noPending := fullDoc()
	noPending.Pending, noPending.PendingSince = "", time.Time{}
	noWindow := fullDoc()
	noWindow.PreviousUntil = time.Time{}
	onlyPending := keyset.Document{Pending: keyPending, PendingSince: t0} // first rotation, no live secret

	tests := []struct {
		name   string
		doc    keyset.Document
		key    string
		after  time.Duration // clock advance after the load, before the request
		role   keyset.Role
		reason listener.Reason
	}{
		{"current", fullDoc(), keyCurrent, 0, keyset.RoleCurrent, listener.ReasonNone},
		{"pending", fullDoc(), keyPending, 0, keyset.RolePending, listener.ReasonNone},
		{"previous in window", fullDoc(), keyPrevious, 0, keyset.RolePrevious, listener.ReasonNone},
		{"previous last instant of window", fullDoc(), keyPrevious, time.Hour - time.Nanosecond, keyset.RolePrevious, listener.ReasonNone},
		{"previous at previous_until", fullDoc(), keyPrevious, time.Hour, keyset.RoleNone, listener.ReasonExpiredKey},
		{"previous after window", fullDoc(), keyPrevious, 2 * time.Hour, keyset.RoleNone, listener.ReasonExpiredKey},
		{"current after previous expired", fullDoc(), keyCurrent, 2 * time.Hour, keyset.RoleCurrent, listener.ReasonNone},
		{"previous without previous_until", noWindow, keyPrevious, 0, keyset.RoleNone, listener.ReasonExpiredKey},
		{"unknown key", fullDoc(), keyOther, 0, keyset.RoleNone, listener.ReasonWrongKey},
		{"prefix of current", fullDoc(), keyCurrent[:47], 0, keyset.RoleNone, listener.ReasonWrongKey},
		{"current with a suffix", fullDoc(), keyCurrent + "x", 0, keyset.RoleNone, listener.ReasonWrongKey},
		{"current in other case", fullDoc(), strings.ToLower(keyCurrent), 0, keyset.RoleNone, listener.ReasonWrongKey},
		{"one character off", fullDoc(), keyCurrent[:47] + "2", 0, keyset.RoleNone, listener.ReasonWrongKey},
		{"missing key", fullDoc(), "", 0, keyset.RoleNone, listener.ReasonMissingKey},
		{"pending when none is staged", noPending, keyPending, 0, keyset.RoleNone, listener.ReasonWrongKey},
		{"only a pending key: pending", onlyPending, keyPending, 0, keyset.RolePending, listener.ReasonNone},
		{"only a pending key: other", onlyPending, keyCurrent, 0, keyset.RoleNone, listener.ReasonWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, tt.doc, func(c *listener.Config) { c.Refresh, c.MaxStaleness = time.Hour, 24*time.Hour })
			s.load(t)
			s.clock.Advance(tt.after)
			role, reason := s.v.Check(context.Background(), tt.key)
			if role != tt.role || reason != tt.reason {
				t.Errorf("Check = %v, %v; want %v, %v", role, reason, tt.role, tt.reason)
			}
			vrole, ok := s.v.Verify(tt.key)
			if vrole != tt.role || ok != (tt.reason == listener.ReasonNone) {
				t.Errorf("Verify = %v, %v; want %v, %v", vrole, ok, tt.role, tt.reason == listener.ReasonNone)
			}
			if n := s.src.count(); n != 1 {
				t.Errorf("%d reads, want 1: expiry must be decided at request time, without a read", n)
			}
		})
	}
}

// The same decision as keyset.Document.Accepts, the reference, for every role and time.
func TestVerifyAgreesWithAccepts(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.Refresh, c.MaxStaleness = time.Hour, 24*time.Hour })
	s.load(t)
	doc := fullDoc()
	for _, d := range []time.Duration{0, time.Minute, time.Hour - 1, time.Hour, time.Hour + 1, 3 * time.Hour} {
		now := t0.Add(d)
		for _, k := range []string{keyCurrent, keyPending, keyPrevious, keyOther, ""} {
			wantRole, wantOK := doc.Accepts(k, now)
			gotRole, gotOK := verifyAt(s, now, k)
			if gotRole != wantRole || gotOK != wantOK {
				t.Errorf("at +%v key %s: Verify = %v, %v; Accepts = %v, %v", d, keyset.Fingerprint(k), gotRole, gotOK, wantRole, wantOK)
			}
		}
	}
}

func verifyAt(s *setup, at time.Time, key string) (keyset.Role, bool) {
	s.clock.Advance(at.Sub(s.clock.Now()))
	return s.v.Verify(key)
}

func TestFailClosedUntilFirstLoad(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	if role, reason := s.v.Check(context.Background(), keyCurrent); role != keyset.RoleNone || reason != listener.ReasonUnavailable {
		t.Fatalf("before any load: Check = %v, %v; want unavailable", role, reason)
	}
	if err := s.v.Ready(context.Background()); !errors.Is(err, listener.ErrNotLoaded) {
		t.Fatalf("Ready = %v, want ErrNotLoaded", err)
	}

	s.src.fail(errVaultDown)
	err := s.v.Load(context.Background())
	if !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Load = %v, want an error wrapping vault.ErrUnavailable", err)
	}
	if _, ok := s.v.Verify(keyCurrent); ok {
		t.Fatal("accepted a key after a failed first load")
	}
	if err := s.v.Ready(context.Background()); !errors.Is(err, listener.ErrNotLoaded) || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Ready = %v, want ErrNotLoaded with the last error", err)
	}
	if st := s.v.Status(); st.Loaded || st.Fresh || st.LastError == "" {
		t.Errorf("Status = %+v, want not loaded, not fresh, with the error", st)
	}

	s.src.fail(nil)
	s.load(t)
	if role, ok := s.v.Verify(keyCurrent); !ok || role != keyset.RoleCurrent {
		t.Fatalf("after a good load: Verify = %v, %v", role, ok)
	}
	if err := s.v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	logs := s.logs.String()
	for _, want := range []string{"no key set loaded: rejecting every delivery", "key set loaded", "key set read again"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	noKeysIn(t, "logs", logs)
}

func TestFailClosedAfterMaxStaleness(t *testing.T) {
	s := newSetup(t, fullDoc(), nil) // Refresh 30s, MaxStaleness 5m
	s.load(t)
	s.src.fail(errVaultDown)

	// Refresh errors keep the last good set...
	for i := 1; i <= 9; i++ {
		s.clock.Advance(30 * time.Second)
		if err := s.v.Load(context.Background()); err == nil {
			t.Fatal("Load succeeded on a failing source")
		}
		if _, ok := s.v.Verify(keyCurrent); !ok {
			t.Fatalf("after %d failed refreshes (%v stale): current key rejected", i, time.Duration(i)*30*time.Second)
		}
	}
	s.clock.Advance(30*time.Second - time.Nanosecond) // 5m - 1ns: still usable
	if _, ok := s.v.Verify(keyPending); !ok {
		t.Fatal("rejected before max staleness")
	}
	s.clock.Advance(time.Nanosecond) // exactly 5m: the limit itself is still usable
	if _, ok := s.v.Verify(keyCurrent); !ok {
		t.Fatal("rejected at exactly max staleness")
	}
	if err := s.v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready at max staleness = %v", err)
	}

	// ...until the set is older than MaxStaleness: then it fails closed.
	s.clock.Advance(time.Nanosecond)
	for _, k := range []string{keyCurrent, keyPending, keyPrevious} {
		if role, reason := s.v.Check(context.Background(), k); reason != listener.ReasonUnavailable || role != keyset.RoleNone {
			t.Errorf("stale: Check(%s) = %v, %v; want unavailable", keyset.Fingerprint(k), role, reason)
		}
	}
	if err := s.v.Ready(context.Background()); !errors.Is(err, listener.ErrStale) {
		t.Fatalf("Ready = %v, want ErrStale", err)
	}
	if st := s.v.Status(); !st.Loaded || st.Fresh || st.Staleness <= st.MaxStaleness {
		t.Errorf("Status = %+v, want loaded, not fresh, staleness past max", st)
	}
	_ = s.v.Load(context.Background()) // logs that it fails closed
	_ = s.v.Load(context.Background())

	// A good read restores service.
	s.src.fail(nil)
	s.load(t)
	if _, ok := s.v.Verify(keyCurrent); !ok {
		t.Fatal("not recovered after a good read")
	}
	logs := s.logs.String()
	for _, want := range []string{"keeping the last good set", "key set stale: rejecting every delivery", "still rejecting every delivery", "key set read again"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if n := strings.Count(logs, "key set stale: rejecting every delivery"); n != 1 {
		t.Errorf("fail-closed error logged %d times, want once per episode", n)
	}
	noKeysIn(t, "logs", logs)
	st := s.v.Stats()
	if st.RefreshErrors != 11 || st.Refreshes != 2 {
		t.Errorf("Stats refreshes %d ok / %d errors, want 2 / 11", st.Refreshes, st.RefreshErrors)
	}
}

func TestLoadPicksUpNewPendingKey(t *testing.T) {
	idle := fullDoc()
	idle.Pending, idle.PendingSince = "", time.Time{}
	s := newSetup(t, idle, nil)
	s.load(t)
	if _, ok := s.v.Verify(keyPending); ok {
		t.Fatal("accepted a key not yet staged")
	}
	s.src.set(fullDoc()) // a rotation stages the pending key
	s.clock.Advance(30 * time.Second)
	s.load(t)
	if role, ok := s.v.Verify(keyPending); !ok || role != keyset.RolePending {
		t.Fatalf("after refresh: Verify(pending) = %v, %v", role, ok)
	}
	// The promote: pending becomes current, current becomes previous.
	promoted := keyset.Document{Current: keyPending, Previous: keyCurrent, PreviousUntil: t0.Add(2 * time.Hour)}
	s.src.set(promoted)
	s.load(t)
	for k, want := range map[string]keyset.Role{keyPending: keyset.RoleCurrent, keyCurrent: keyset.RolePrevious, keyPrevious: keyset.RoleNone} {
		if role, _ := s.v.Verify(k); role != want {
			t.Errorf("after promote: Verify(%s) = %v, want %v", keyset.Fingerprint(k), role, want)
		}
	}
	if st := s.v.Status(); st.Version != 3 || st.CurrentFingerprint != keyset.Fingerprint(keyPending) || !st.Accepting[keyset.RolePrevious] || st.Accepting[keyset.RolePending] {
		t.Errorf("Status = %+v", st)
	}
	if !strings.Contains(s.logs.String(), `"message":"key set updated"`) {
		t.Error("a new version must be logged")
	}
	noKeysIn(t, "logs", s.logs.String())
}

// Run refreshes in the background on real timers; the test waits for reads, not for time.
func TestRunRefreshes(t *testing.T) {
	idle := fullDoc()
	idle.Pending = ""
	s := newSetup(t, idle, func(c *listener.Config) {
		c.Refresh, c.MaxStaleness, c.Clock = 5*time.Millisecond, time.Minute, nil
	})
	s.src.onRead = make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.v.Run(ctx); close(done) }()

	waitReads := func(n int) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for s.src.count() < n {
			select {
			case <-s.src.onRead:
			case <-timeout:
				t.Fatalf("only %d reads, want %d", s.src.count(), n)
			}
		}
	}
	waitReads(2) // Run reads one at a time: the second read starts after the first is in use
	if _, ok := s.v.Verify(keyCurrent); !ok {
		t.Fatal("not accepting after Run's first read")
	}
	s.src.set(fullDoc())
	n := s.src.count()
	waitReads(n + 2) // a read that started after set() has completed
	if role, ok := s.v.Verify(keyPending); !ok || role != keyset.RolePending {
		t.Fatalf("Run did not pick up the pending key: %v, %v", role, ok)
	}
	// Failed reads are retried, and the set stays in use.
	s.src.fail(errVaultDown)
	waitReads(s.src.count() + 2)
	if _, ok := s.v.Verify(keyPending); !ok {
		t.Fatal("a failed refresh dropped the key set")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRefreshZeroReadsOnEveryRequest(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.Refresh, c.MaxStaleness = 0, 0 })
	for i := 1; i <= 3; i++ {
		if _, ok := s.v.Verify(keyCurrent); !ok {
			t.Fatal("current key rejected")
		}
		if n := s.src.count(); n != i {
			t.Fatalf("%d reads after %d requests", n, i)
		}
	}
	s.src.set(keyset.Document{Current: keyOther})
	if _, ok := s.v.Verify(keyOther); !ok {
		t.Fatal("a new document must be used by the very next request")
	}
	if _, ok := s.v.Verify(keyCurrent); ok {
		t.Fatal("a replaced key must be rejected by the very next request")
	}
	// No cache: one failed read fails the request closed, whatever was read before.
	s.src.fail(errVaultDown)
	if role, reason := s.v.Check(context.Background(), keyOther); reason != listener.ReasonUnavailable || role != keyset.RoleNone {
		t.Fatalf("failed read: Check = %v, %v; want unavailable", role, reason)
	}
	if err := s.v.Ready(context.Background()); !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Ready = %v, want the read error", err)
	}
	if st := s.v.Status(); st.Fresh {
		t.Error("Status must not be fresh after a failed read")
	}
	// A missing key needs no read.
	n := s.src.count()
	if _, reason := s.v.Check(context.Background(), ""); reason != listener.ReasonMissingKey || s.src.count() != n {
		t.Errorf("missing key: reason %v, %d reads", reason, s.src.count()-n)
	}
	// The request's context reaches the source, bounded by the read timeout.
	s.src.fail(nil)
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "req")
	s.v.Check(ctx, keyOther)
	s.src.mu.Lock()
	got := s.src.lastCtx
	s.src.mu.Unlock()
	if got.Value(ctxKey{}) != "req" {
		t.Error("the request context was not passed to the source")
	}
	if _, ok := got.Deadline(); !ok {
		t.Error("the read has no deadline")
	}
	// Run has nothing to do but must return on cancel.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.v.Run(ctx)
}

func TestNewRejectsBadConfig(t *testing.T) {
	src := newFakeSource(fullDoc())
	tests := []struct {
		name string
		cfg  listener.Config
		want string
	}{
		{"no source", listener.Config{Path: "p"}, "Source"},
		{"no path", listener.Config{Source: src}, "Path"},
		{"negative refresh", listener.Config{Source: src, Path: "p", Refresh: -1}, "Refresh"},
		{"staleness equal to refresh", listener.Config{Source: src, Path: "p", Refresh: time.Minute, MaxStaleness: time.Minute}, "must exceed Refresh"},
		{"staleness below refresh", listener.Config{Source: src, Path: "p", Refresh: time.Minute, MaxStaleness: time.Second}, "must exceed Refresh"},
		{"negative body limit", listener.Config{Source: src, Path: "p", MaxBodyBytes: -1}, "MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := listener.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error about %s", err, tt.want)
			}
		})
	}
	v, err := listener.New(listener.Config{Source: src, Path: "p", Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st := v.Status(); st.MaxStaleness != 3*time.Hour {
		t.Errorf("default MaxStaleness for a 1h refresh = %v, want 3h", st.MaxStaleness)
	}
}

// Requests verify while refreshes swap the key set: run with -race.
func TestConcurrentVerifyAndLoad(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.Clock = nil })
	s.load(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 200; i++ {
			s.src.set(fullDoc())
			_ = s.v.Load(ctx)
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if _, ok := s.v.Verify(keyCurrent); !ok {
					t.Error("current key rejected during refreshes")
					return
				}
				_ = s.v.Status()
			}
		}()
	}
	wg.Wait()
	if st := s.v.Stats(); st.Accepted[keyset.RoleCurrent] != 2000 {
		t.Errorf("accepted current = %d, want 2000", st.Accepted[keyset.RoleCurrent])
	}
}
