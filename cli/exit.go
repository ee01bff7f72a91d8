package cli

import (
	"errors"
	"flag"
	"fmt"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/config"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// Exit codes (DESIGN.md section 3).
const (
	ExitOK         = 0 // success, or nothing due
	ExitRetry      = 1 // failed but safe to retry: state is resumable
	ExitUsage      = 2 // usage or configuration error
	ExitNeedsHuman = 3 // drift, webhook not active, credentials rejected, non-retryable API error
)

// ErrUsage marks a command-line error (unknown command or flag, bad argument).
var ErrUsage = errors.New("usage")

// ErrNeedsHuman marks a failure that retrying will not fix.
var ErrNeedsHuman = errors.New("needs a human")

// ExitError carries an explicit exit code, e.g. the worst code of a multi-target run.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by Run to the process exit code. It is the one place
// where errors become exit codes.
func ExitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var ee *ExitError
	var ce *config.Error
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, ErrUsage), errors.As(err, &ce), errors.Is(err, config.ErrNoFile):
		return ExitUsage
	case errors.Is(err, ErrNeedsHuman), errors.Is(err, rotate.ErrNeedsHuman),
		errors.Is(err, vault.ErrPermissionDenied), certcentral.IsCredentialsRejected(err):
		return ExitNeedsHuman
	}
	return ExitRetry
}
