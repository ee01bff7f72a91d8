package manifesttest

import (
	"os"
	"strings"
)

// cleanEnv returns the environment with no VAULT_* variables but extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "VAULT_") {
			env = append(env, e)
		}
	}
	return append(env, extra...)
}
