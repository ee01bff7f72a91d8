package cli

import (
	"context"
	"fmt"
)

func notYet(name string) func(context.Context, *Env, []string) error {
	return func(context.Context, *Env, []string) error {
		return fmt.Errorf("%w: %s is not available in this build", ErrUsage, name)
	}
}

var (
	runListen = notYet("listen")
)
