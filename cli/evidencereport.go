package cli

import (
	"context"
	"fmt"
)

func runEvidenceReport(_ context.Context, _ *Env, _ []string) error {
	return fmt.Errorf("%w: report: not yet", ErrUsage)
}
