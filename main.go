// Command keyroll rotates the shared secret of a DigiCert CertCentral webhook with zero
// downtime, keeping the keys in HashiCorp Vault. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyroll/keyroll/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "keyroll:", err)
	}
	os.Exit(cli.ExitCode(err))
}
