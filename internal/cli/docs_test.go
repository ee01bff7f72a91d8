package cli_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra/doc"

	"github.com/keyroll/keyroll/internal/cli"
)

// updateDocs rewrites docs/cli instead of comparing with it: `make docs`.
var updateDocs = flag.Bool("update-docs", false, "regenerate docs/cli from the commands")

// cliDocs is where the command reference lives, from this package's directory.
const cliDocs = "../../docs/cli"

// TestCLIDocsCurrent fails when docs/cli is not what the commands generate: a flag, a
// command or a help text changed without `make docs`.
func TestCLIDocsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := doc.GenMarkdownTree(cli.Root(&cli.Env{Stdout: io.Discard, Stderr: io.Discard}), dir); err != nil {
		t.Fatal(err)
	}
	want := readDir(t, dir)
	if *updateDocs {
		if err := os.RemoveAll(cliDocs); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(cliDocs, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range want {
			if err := os.WriteFile(filepath.Join(cliDocs, name), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	got := readDir(t, cliDocs)
	for name, body := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("docs/cli/%s is missing: run `make docs`", name)
		} else if string(g) != string(body) {
			t.Errorf("docs/cli/%s is stale: run `make docs`", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/cli/%s documents no command: run `make docs`", name)
		}
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		} else {
			out[e.Name()] = b
		}
	}
	return out
}
