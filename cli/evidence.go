package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyroll/keyroll/evidence"
	"github.com/keyroll/keyroll/failure"
)

// runEvidence implements `keyroll evidence verify FILE`: it recomputes the hash chain and
// exits 0 for an intact file, or 1 naming the first broken line.
func runEvidence(_ context.Context, env *Env, args []string) error {
	if len(args) != 2 || args[0] != "verify" {
		return fmt.Errorf("%w: evidence verify FILE", ErrUsage)
	}
	res, err := evidence.VerifyFile(args[1])
	var ce *evidence.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(env.Stdout, "BROKEN %s: line %d: %s\n", args[1], ce.Line, ce.Reason)
		return failure.Wrap(failure.Retryable, err) // exit 1, as documented
	case err != nil:
		return fmt.Errorf("evidence verify: %w", err)
	}
	fmt.Fprintf(env.Stdout, "OK %s: %d records, chain intact, last hash %s\n", args[1], res.Records, res.LastHash)
	return nil
}
