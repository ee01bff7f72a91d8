// Package cli implements keyroll's command line on spf13/cobra: one file per command, each
// a constructor that declares its flags and arguments on a cobra.Command, a shared set of
// configuration and logging flags, and the mapping of errors to exit codes (exit.go).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyroll/keyroll/internal/config"
)

// Env is what every command gets: its output streams, the logger and the environment.
// Every read of an environment variable goes through it.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Log    zerolog.Logger
	// LookupEnv reads the environment (os.LookupEnv; replaceable in tests).
	LookupEnv func(string) (string, bool)
	// Hard is closed by a second stop request (see Main); nil: never.
	Hard <-chan struct{}
}

// Getenv returns the value of the environment variable k, "" when it is not set.
func (e *Env) Getenv(k string) string {
	v, _ := e.LookupEnv(k)
	return v
}

// Main runs keyroll as a process with args (without the program name) and returns its
// exit code. The first SIGINT or SIGTERM stops the command gracefully, a second one at
// once (notifyStop).
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, hard, release := notifyStop(context.Background())
	defer release()
	err := run(ctx, &Env{Stdout: stdout, Stderr: stderr, LookupEnv: os.LookupEnv, Hard: hard}, args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "keyroll:", err)
	}
	return ExitCode(err)
}

// Run runs keyroll with args (without the program name) until ctx ends. Errors map to
// exit codes via ExitCode.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, &Env{Stdout: stdout, Stderr: stderr, LookupEnv: os.LookupEnv}, args)
}

func run(ctx context.Context, env *Env, args []string) error {
	root := Root(env)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// Root returns keyroll's command tree, writing to env's streams: help and output on
// Stdout, logs on Stderr. Errors are returned, not printed (Main prints them once).
func Root(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "keyroll",
		Short: "Rotate a DigiCert CertCentral webhook's shared secret through HashiCorp Vault",
		Long: "keyroll rotates the shared secret of a DigiCert CertCentral webhook with zero downtime,\n" +
			"keeping the keys in HashiCorp Vault KV v2, and records every rotation as evidence.",
		Version:           Build().short(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true, // the generated docs stay byte-identical between builds
	}
	groupCommand(env, root)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetVersionTemplate("keyroll {{.Version}}\n")
	// A group command runs only to refuse what it is given: its usage shows the subcommands.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}",
		"{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(runCmd(env), scheduleCmd(env), statusCmd(env), checkCmd(env), policyCmd(env),
		listenCmd(env), simulateCmd(env), evidenceCmd(env), versionCmd(env))
	root.SetHelpCommand(helpCmd())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	if comp, _, err := root.Find([]string{"completion"}); err == nil && comp != root {
		groupCommand(env, comp) // cobra's shows its help for an unknown shell
	}
	usageArgs(root)
	return root
}

// usageArgs makes every argument error in c's tree a usage error (exit 2), cobra's own
// commands' (completion) included.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			if err != nil && !errors.Is(err, ErrUsage) {
				err = fmt.Errorf("%w: %s: %v", ErrUsage, cmdName(c), err)
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// helpCmd is `keyroll help [COMMAND]...`: cobra's, except that an unknown command is a
// usage error with suggestions rather than the top-level help.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: keyroll help run, keyroll help evidence verify.",
		// keyroll help <TAB> completes command names, as cobra's own help command does.
		ValidArgsFunction: func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
					names = append(names, sub.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err == nil && len(rest) > 0 {
				err = unknownCommand(cmd, rest[0])
			}
			if err != nil {
				return err
			}
			return cmd.Help()
		},
	}
}

// groupCommand makes c a command that only groups subcommands: an unknown one is refused
// with suggestions, none prints the help to stderr (groupRun).
func groupCommand(env *Env, c *cobra.Command) *cobra.Command {
	c.Args = subcommandArgs
	c.RunE = groupRun(env)
	c.SuggestionsMinimumDistance = 2 // cobra sets it only on its own unknown-command path
	return c
}

// groupRun is what a command that only groups subcommands (keyroll, keyroll evidence)
// does without one: print its help to stderr and fail as a usage error.
func groupRun(env *Env) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, _ []string) error {
		c.SetOut(env.Stderr)
		_ = c.Help()
		c.SetOut(env.Stdout)
		if !c.HasParent() {
			return fmt.Errorf("%w: no command given", ErrUsage)
		}
		return fmt.Errorf("%w: %s: no subcommand given", ErrUsage, cmdName(c))
	}
}

// subcommandArgs refuses an argument of a group command: it is a mistyped subcommand,
// named with the closest ones.
func subcommandArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unknownCommand(c, args[0])
}

func unknownCommand(c *cobra.Command, name string) error {
	hint := fmt.Sprintf("; '%s --help' lists them", c.CommandPath())
	if s := c.SuggestionsFor(name); len(s) > 0 {
		q := make([]string, len(s))
		for i, n := range s {
			q[i] = fmt.Sprintf("%q", n)
		}
		hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(q, " or "))
	}
	return fmt.Errorf("%w: unknown command %q for %q%s", ErrUsage, name, c.CommandPath(), hint)
}

// flagError turns a flag parsing error into a usage error naming the command. On a group
// command, an argument before the bad flag is a mistyped subcommand: that is the error.
func flagError(c *cobra.Command, err error) error {
	if c.HasAvailableSubCommands() {
		if a := c.Flags().Args(); len(a) > 0 {
			return unknownCommand(c, a[0])
		}
	}
	return fmt.Errorf("%w: %s: %v", ErrUsage, cmdName(c), err)
}

// cmdName is c's path without the program name: "run", "evidence verify".
func cmdName(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// noArgs refuses any argument.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", ErrUsage, cmdName(c), args[0])
	}
	return nil
}

// oneFile wants exactly one argument, FILE; flags may come before or after it.
func oneFile(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s: FILE is missing", ErrUsage, cmdName(c))
	}
	return noArgs(c, args[1:])
}

// common holds the flags every command that reads the config accepts.
type common struct {
	configPath string
	logFormat  string
	logLevel   string
}

func (c *common) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.configPath, "config", "", "config `file` (default $KEYROLL_CONFIG, then ./config.yaml)")
	c.registerLog(fs)
}

// registerLog declares the logging flags alone, for commands without a configuration.
func (c *common) registerLog(fs *pflag.FlagSet) {
	fs.StringVar(&c.logFormat, "log-format", "", "json or console (default: console on a terminal, else json)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

// setup applies the logging flags to env.
func (c *common) setup(env *Env) error {
	lvl, err := zerolog.ParseLevel(c.logLevel)
	if err != nil || c.logLevel == "" {
		return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", ErrUsage, c.logLevel)
	}
	// Rotations of a fleet log concurrently: SyncWriter keeps lines whole on any writer.
	var w io.Writer = env.Stderr
	switch c.logFormat {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: env.Stderr, TimeFormat: "15:04:05"}
	case "":
		if isTerminal(env.Stderr) {
			w = zerolog.ConsoleWriter{Out: env.Stderr, TimeFormat: "15:04:05"}
		}
	default:
		return fmt.Errorf("%w: --log-format %q: want json or console", ErrUsage, c.logFormat)
	}
	env.Log = zerolog.New(zerolog.SyncWriter(w)).Level(lvl).With().Timestamp().Logger()
	return nil
}

// start sets up logging and loads the configuration: what every command that reads the
// configuration does after parsing its flags.
func (c *common) start(env *Env) (*config.Config, error) {
	if err := c.setup(env); err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.Path(c.configPath, env.LookupEnv), env.LookupEnv)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		env.Log.Warn().Msg("config: " + w)
	}
	return cfg, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set appends one value.
func (s *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*s = append(*s, v)
	return nil
}

// Type names the flag's value in help.
func (s *stringList) Type() string { return "name" }
