// Package cli implements keyroll's command line: one file per command, a shared set of
// global flags, logging set-up, and the mapping of errors to exit codes.
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

	"github.com/keyroll/keyroll/internal/config"
)

// command is one subcommand of keyroll.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

func commands() []command {
	return []command{
		{"run", "rotate every (or the named) target now", runRun},
		{"schedule", "rotate on rotation.schedule until SIGTERM", runSchedule},
		{"status", "show where each target stands", runStatus},
		{"check", "validate the config and prove Vault and DigiCert access", runCheck},
		{"policy", "print the Vault policies the config needs (job, listener TARGET)", runPolicy},
		{"listen", "run a reference webhook listener", runListen},
		{"simulate", "run the CertCentral simulator", runSimulate},
		{"evidence", "evidence tools: verify, public-key, repair, report", runEvidence},
		{"version", "print the version", runVersion},
	}
}

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
	stderr := env.Stderr
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", ErrUsage)
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(stderr)
	return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "keyroll rotates the shared secret of a DigiCert CertCentral webhook with zero downtime.")
	fmt.Fprintln(w, "\nUsage: keyroll COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'keyroll COMMAND -h' for a command's flags.")
}

// common holds the flags every command that reads the config accepts.
type common struct {
	configPath string
	logFormat  string
	logLevel   string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.configPath, "config", "", "config file (default $KEYROLL_CONFIG, then ./config.yaml)")
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

// parseFlags parses args into fs, turning flag errors into usage errors. -h prints the
// flags and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, env *Env, args []string) error {
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
	}
	return nil
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
