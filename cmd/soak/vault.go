package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyroll/keyroll/internal/testenv"
)

// vaultServer is the soak's Vault: a file-storage server that the soak kills, restarts
// and seals without losing its data, with the windows during which it was down or sealed.
type vaultServer struct {
	*testenv.FileVault

	mu      sync.Mutex
	outages []window // the last one is open (to zero) while Vault is down or sealed
	// slow are stretches, outside those outages, in which Vault answered the monitor late
	// or not at all: on a loaded machine a listener's read can then fail as if Vault were out.
	slow []window
}

// errNotApplied: a fault could not be applied (the seal request itself failed).
var errNotApplied = errors.New("vault: seal not applied")

// window is a stretch of time; a zero to means it has not ended.
type window struct{ from, to time.Time }

// startVault starts and initialises a file-storage Vault in dir, with the Transit key that
// signs evidence records and the full version history of the evidence anchor at
// kvMount/anchor.
func startVault(ctx context.Context, bin, dir, transitKey, kvMount, anchor string) (*vaultServer, error) {
	fv, err := testenv.NewFileVault(bin, dir)
	if err != nil {
		return nil, err
	}
	v := &vaultServer{FileVault: fv}
	if err := v.Start(ctx); err != nil {
		return v, err
	}
	if err := v.Init(ctx); err != nil {
		return v, err
	}
	if err := testenv.TransitKey(ctx, v.Client(), "transit", transitKey, "ed25519"); err != nil {
		return v, err
	}
	return v, v.keepHistory(ctx, kvMount, anchor, 100000)
}

// keepHistory sets max_versions of the KV v2 secret at mount/path.
func (v *vaultServer) keepHistory(ctx context.Context, mount, path string, versions int) error {
	if _, err := v.Client().Logical().WriteWithContext(ctx, mount+"/metadata/"+path, map[string]any{"max_versions": versions}); err != nil {
		return fmt.Errorf("vault: max_versions of %s: %w", path, err)
	}
	return nil
}

// token creates a token with policies.
func (v *vaultServer) token(ctx context.Context, policies ...string) (string, error) {
	return testenv.CreateToken(ctx, v.Client(), 768*time.Hour, policies...)
}

// down marks the start of an outage.
func (v *vaultServer) down() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.outages = append(v.outages, window{from: time.Now()})
}

// up marks the end of the current outage.
func (v *vaultServer) up() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.outages); n > 0 && v.outages[n-1].to.IsZero() {
		v.outages[n-1].to = time.Now()
	}
}

// unresponsive records a stretch in which Vault answered late or failed, unless it falls
// in an injected outage.
func (v *vaultServer) unresponsive(from, to time.Time) {
	if v.outageWithin(from, to) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.slow); n > 0 && !v.slow[n-1].to.Before(from) {
		v.slow[n-1].to = to
		return
	}
	v.slow = append(v.slow, window{from: from, to: to})
}

// slowTotal is the number and total length of the stretches Vault was unresponsive.
func (v *vaultServer) slowTotal() (n int, d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range v.slow {
		n, d = n+1, d+o.to.Sub(o.from)
	}
	return n, d
}

// outOrSlowWithin reports whether Vault was down, sealed or unresponsive at some time in
// [from, to].
func (v *vaultServer) outOrSlowWithin(from, to time.Time) bool {
	if v.outageWithin(from, to) {
		return true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return overlaps(v.slow, from, to)
}

// outageWithin reports whether Vault was down or sealed at some time in [from, to].
func (v *vaultServer) outageWithin(from, to time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return overlaps(v.outages, from, to)
}

// overlaps reports whether a window of ws (in time order) meets [from, to].
func overlaps(ws []window, from, to time.Time) bool {
	for i := len(ws) - 1; i >= 0; i-- {
		o := ws[i]
		if (o.to.IsZero() || !o.to.Before(from)) && !o.from.After(to) {
			return true
		}
		if !o.to.IsZero() && o.to.Before(from) {
			break
		}
	}
	return false
}

// outageTotal is the time Vault spent down or sealed.
func (v *vaultServer) outageTotal() (n int, d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range v.outages {
		to := o.to
		if to.IsZero() {
			to = time.Now()
		}
		n, d = n+1, d+to.Sub(o.from)
	}
	return n, d
}

// restart kills the server with SIGKILL, keeps it down for downFor, starts it again and
// unseals it.
func (v *vaultServer) restart(ctx context.Context, downFor time.Duration) error {
	v.down()
	v.Kill()
	if !sleepCtx(ctx, downFor) {
		return ctx.Err()
	}
	if err := v.Start(ctx); err != nil {
		return err
	}
	if err := v.Unseal(ctx); err != nil {
		return err
	}
	v.up()
	return nil
}

// sealFor seals Vault, keeps it sealed for d and unseals it.
func (v *vaultServer) sealFor(ctx context.Context, d time.Duration) error {
	v.down()
	if err := v.Seal(ctx); err != nil {
		v.up()
		return fmt.Errorf("%w: %w", errNotApplied, err)
	}
	if !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	if err := v.Unseal(ctx); err != nil {
		return err
	}
	v.up()
	return nil
}
