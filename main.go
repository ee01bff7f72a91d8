// Command keyroll rotates the shared secret of a DigiCert CertCentral webhook with zero
// downtime, keeping the keys in HashiCorp Vault. See README.md and docs/design.md.
package main

import (
	"os"
	// The time zone database is embedded (about 450 KB) so that CRON_TZ in rotation.schedule
	// works in any image, including one without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/keyroll/keyroll/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
