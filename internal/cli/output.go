package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// output is the --output (-o) flag of the commands whose results scripts read: run,
// check and status. With json they print one JSON document on stdout; logs stay on stderr.
type output struct {
	format string
}

func (o *output) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.format, "output", "o", "text", "output format: text or json (one JSON document on stdout; logs stay on stderr)")
}

// check refuses an unknown format.
func (o *output) check() error {
	switch o.format {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("%w: --output %q: want text or json", ErrUsage, o.format)
}

// json says whether the command prints JSON.
func (o *output) json() bool { return o.format == "json" }

// printJSON writes v as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing the JSON output: %w", err)
	}
	return nil
}
