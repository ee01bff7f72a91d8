package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/cli"
)

// runCLI runs keyroll in-process, without a configuration, and returns its exit code,
// stdout and stderr, with the error printed as Main prints it.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("KEYROLL_CONFIG", "/nonexistent/keyroll-config.yaml")
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), args, &out, &errb)
	if err != nil {
		errb.WriteString("keyroll: " + err.Error() + "\n")
	}
	return cli.ExitCode(err), out.String(), errb.String()
}

// commandPaths lists every command of keyroll's tree as its words after "keyroll",
// the root first.
func commandPaths() [][]string {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && !sub.Hidden {
				walk(sub, append(path[:len(path):len(path)], sub.Name()))
			}
		}
	}
	walk(cli.Root(&cli.Env{}), nil)
	return paths
}

func TestHelpOnStdoutExitsZero(t *testing.T) {
	for _, path := range commandPaths() {
		name := strings.Join(append([]string{"keyroll"}, path...), " ")
		for _, args := range [][]string{append(path, "--help"), append(path, "-h"), append([]string{"help"}, path...)} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errs := runCLI(t, args...)
				if code != cli.ExitOK || errs != "" {
					t.Errorf("exit %d, stderr %q; want 0 and nothing on stderr", code, errs)
				}
				if !strings.Contains(out, "Usage:\n  "+name) {
					t.Errorf("stdout lacks %q:\n%s", "Usage:\n  "+name, out)
				}
				if strings.Contains(out, " -config") || strings.Contains(out, "Usage of") {
					t.Errorf("help shows Go flag-package style:\n%s", out)
				}
			})
		}
	}
}

func TestMistypedCommandSuggests(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rnu"}, `unknown command "rnu" for "keyroll" (did you mean "run"?)`},
		{[]string{"stauts", "--config", "x.yaml"}, `(did you mean "status"?)`},
		{[]string{"evidence", "verfy", "f.jsonl"}, `(did you mean "verify"?)`},
		{[]string{"help", "chek"}, `(did you mean "check"?)`},
		{[]string{"completion", "fis"}, `(did you mean "fish"?)`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "keyroll"; 'keyroll --help' lists them`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != cli.ExitUsage || !strings.Contains(errs, tt.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errs, tt.want)
			}
		})
	}
}

func TestUnexpectedArgumentsRefused(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "extra"}, `run: unexpected argument "extra"`},
		{[]string{"status", "extra"}, `status: unexpected argument "extra"`},
		{[]string{"check", "extra"}, `check: unexpected argument "extra"`},
		{[]string{"schedule", "extra"}, `schedule: unexpected argument "extra"`},
		{[]string{"simulate", "extra"}, `simulate: unexpected argument "extra"`},
		{[]string{"simulate", "--key-role", "7"}, `--key-role 7 is not an access role`},
		{[]string{"simulate", "--new-key-delay", "-1s"}, `--new-key-delay must not be negative`},
		{[]string{"listen", "--addr", "127.0.0.1:0", "extra"}, `listen: unexpected argument "extra"`},
		{[]string{"version", "extra"}, `version: unexpected argument "extra"`},
		{[]string{"policy", "job", "extra"}, `policy: want no argument, job, or listener TARGET`},
		{[]string{"evidence", "verify", "a.jsonl", "b.jsonl"}, `evidence verify: unexpected argument "b.jsonl"`},
		{[]string{"evidence", "report", "a.jsonl", "--format", "csv", "b"}, `evidence report: unexpected argument "b"`},
		{[]string{"evidence", "repair"}, `evidence repair: FILE is missing`},
		{[]string{"evidence", "public-key", "extra"}, `evidence public-key: unexpected argument "extra"`},
		{[]string{"completion", "bash", "extra"}, `completion bash`},
		{[]string{"run", "--frobnicate"}, `run: unknown flag: --frobnicate`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != cli.ExitUsage || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing on stdout", code, out)
			}
			// One message: the error alone, not the usage and the error twice.
			if errs != "keyroll: usage: "+tt.want+"\n" && !(strings.HasPrefix(errs, "keyroll: usage: ") &&
				strings.Contains(errs, tt.want) && strings.Count(errs, "\n") == 1) {
				t.Errorf("stderr %q; want one line with %q", errs, tt.want)
			}
		})
	}
}

func TestNoCommandIsUsageError(t *testing.T) {
	for _, args := range [][]string{{}, {"evidence"}, {"completion"}} {
		code, out, errs := runCLI(t, args...)
		if code != cli.ExitUsage || out != "" || !strings.Contains(errs, "Usage:") || !strings.Contains(errs, "no ") {
			t.Errorf("keyroll %v: exit %d, stdout %q, stderr %q; want 2 with the help on stderr", args, code, out, errs)
		}
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if code, out, _ := runCLI(t, "--version"); code != 0 || !strings.HasPrefix(out, "keyroll ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	code, out, _ := runCLI(t, "version")
	for _, want := range []string{"keyroll ", "\nrevision: ", "\nmodified: "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("version: exit %d, %q lacks %q", code, out, want)
		}
	}
	if code, out, _ := runCLI(t, "__complete", "help", "evidence", "ve"); code != 0 || !strings.HasPrefix(out, "verify\n") {
		t.Errorf("keyroll help evidence ve<TAB>: exit %d, %q", code, out)
	}
	if code, out, _ := runCLI(t, "__complete", "st"); code != 0 || !strings.HasPrefix(out, "status\t") {
		t.Errorf("keyroll st<TAB>: exit %d, %q", code, out)
	}
	for shell, want := range map[string]string{"bash": "complete ", "zsh": "#compdef keyroll", "fish": "complete -c keyroll"} {
		if code, out, _ := runCLI(t, "completion", shell); code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, output lacks %q", shell, code, want)
		}
	}
}
