package rotate

import (
	"context"
	"sync"
)

// RotateAll rotates every target, with at most parallel of them doing work (talking to
// Vault or DigiCert) at once; parallel < 1 means one. A rotation gives up its slot while it
// waits out the propagation delay, so the waits of a fleet overlap instead of adding up.
// One target's failure never touches another's state. done, when set, is called as each
// target finishes. Results come back in the order of targets.
func (e *Engine) RotateAll(ctx context.Context, targets []Target, p Policy, o Options, parallel int, done func(Result)) []Result {
	if parallel < 1 {
		parallel = 1
	}
	slots := make(chan struct{}, parallel)
	eng := *e
	eng.slots = slots
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i := range targets {
		slots <- struct{}{} // start no more rotations than there are free slots
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = eng.rotate(ctx, targets[i], p, o, true)
			if done != nil {
				done(results[i])
			}
		}()
	}
	wg.Wait()
	return results
}
