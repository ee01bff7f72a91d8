package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X github.com/keyroll/keyroll/internal/cli.version=…".
var version = ""

// Version returns keyroll's version: the ldflags value, else the module version from the
// build info, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func runVersion(_ context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", ErrUsage)
	}
	fmt.Fprintf(env.Stdout, "keyroll %s\n", Version())
	return nil
}
