package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/keyroll/keyroll/internal/failure"
)

// Exit codes (docs/design.md, "The command line and exit codes").
const (
	ExitOK         = 0 // success, or nothing due
	ExitRetry      = 1 // failed but safe to retry: state is resumable
	ExitUsage      = 2 // usage or configuration error
	ExitNeedsHuman = 3 // drift, webhook not active, credentials rejected, non-retryable API error
)

// ErrUsage marks a command-line error (unknown command or flag, bad argument).
var ErrUsage = failure.New(failure.Usage, "usage")

// ExitCode maps an error returned by Run to the process exit code: the one place where
// a failure's kind becomes an exit code.
func ExitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	switch failure.Of(err) {
	case failure.None:
		return ExitOK
	case failure.Usage, failure.Config:
		return ExitUsage
	case failure.NeedsHuman:
		return ExitNeedsHuman
	}
	return ExitRetry
}

// joinFailures joins errs (nil ones left out) into one error, headed by summary, whose
// kind is the worst of theirs; nil when there are none.
func joinFailures(summary string, errs []error) error {
	kind := failure.Worst(errs...)
	if kind == failure.None {
		return nil
	}
	return failure.Wrap(kind, fmt.Errorf("%s: %w", summary, joined(errs)))
}

// joined is several errors on one line, separated by "; ".
type joined []error

func (j joined) Error() string {
	msgs := make([]string, 0, len(j))
	for _, e := range j {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (j joined) Unwrap() []error { return j }
