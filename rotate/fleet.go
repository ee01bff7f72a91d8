package rotate

import (
	"context"
	"sync"
)

// RotateAll rotates every target with at most parallel rotations at once (parallel < 1
// means one at a time). Waits overlap across targets; one target's failure never touches
// another's state. done, when set, is called as each target finishes (from its worker).
// Results come back in the order of targets.
func (e *Engine) RotateAll(ctx context.Context, targets []Target, p Policy, o Options, parallel int, done func(Result)) []Result {
	if parallel < 1 {
		parallel = 1
	}
	results := make([]Result, len(targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(parallel, len(targets)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = e.Rotate(ctx, targets[i], p, o)
				if done != nil {
					done(results[i])
				}
			}
		}()
	}
	for i := range targets {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}
