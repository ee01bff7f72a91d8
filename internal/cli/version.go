package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time by `make build` and the Dockerfile with -ldflags "-X
// github.com/keyroll/keyroll/internal/cli.version=v0.1.0 -X …cli.revision=<commit> -X
// …cli.modified=true|false". Unset, they come from the build info.
var (
	version  = ""
	revision = ""
	modified = ""
)

// BuildInfo is what `keyroll version` prints: the version, the VCS revision it was built
// from and whether the tree had uncommitted changes.
type BuildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Modified string `json:"modified"` // true, false or unknown
	Go       string `json:"go"`
}

// Build returns keyroll's build information: the -ldflags values, else the build info's
// module version and vcs settings, else "devel" and "unknown".
func Build() BuildInfo {
	b := BuildInfo{Version: version, Revision: revision, Modified: modified, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Revision == "":
				b.Revision = s.Value
			case s.Key == "vcs.modified" && b.Modified == "":
				b.Modified = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	if b.Modified == "" {
		b.Modified = "unknown"
	}
	return b
}

// Version returns keyroll's version: the ldflags value, else the module version from the
// build info, else "devel".
func Version() string { return Build().Version }

// short is the one line of `keyroll --version`.
func (b BuildInfo) short() string {
	rev := b.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if b.Modified == "true" {
		rev += ", modified"
	}
	return fmt.Sprintf("%s (%s)", b.Version, rev)
}

func versionCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the VCS revision and whether the tree was modified",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			b := Build()
			fmt.Fprintf(env.Stdout, "keyroll %s\nrevision: %s\nmodified: %s\ngo: %s\n", b.Version, b.Revision, b.Modified, b.Go)
			return nil
		},
	}
}
