// Package failure holds the one classification every keyroll failure carries: whether
// retrying can fix it, whether it needs a human, or whether the command line or the
// configuration is wrong. The package that understands a failure decides its kind (vault
// for Vault's answers, certcentral for DigiCert's, rotate for its refusals, config for the
// file); cli turns a kind into an exit code in one place.
package failure

import "errors"

// Kind classifies a failure. Kinds are ordered: of several failures, the greatest kind
// is the one to report.
type Kind int

// The kinds, least severe first.
const (
	// None: no failure.
	None Kind = iota
	// Retryable: a transient failure; the state is resumable and a later run converges.
	Retryable
	// Usage: the command line is wrong (unknown command or flag, bad argument).
	Usage
	// Config: the configuration is wrong or incomplete (file, environment, credentials
	// that are missing rather than rejected).
	Config
	// NeedsHuman: retrying will not fix it (drift, webhook not active, credentials or
	// policy rejected, a request DigiCert refuses).
	NeedsHuman
)

// String names the kind as logs and evidence show it.
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case Retryable:
		return "retryable"
	case Usage:
		return "usage"
	case Config:
		return "config"
	case NeedsHuman:
		return "needs_human"
	}
	return "unknown"
}

// Kinded is implemented by errors that know their kind.
type Kinded interface {
	error
	FailureKind() Kind
}

// Of returns the kind of err: None for nil, the kind of the outermost error in its chain
// that knows one, else Retryable (an error nobody classified is assumed transient).
func Of(err error) Kind {
	if err == nil {
		return None
	}
	var k Kinded
	if errors.As(err, &k) {
		return k.FailureKind()
	}
	return Retryable
}

// Worst returns the greatest kind of errs (None when all are nil).
func Worst(errs ...error) Kind {
	w := None
	for _, e := range errs {
		w = max(w, Of(e))
	}
	return w
}

// Error is an error with an explicit kind.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// FailureKind returns e.Kind.
func (e *Error) FailureKind() Kind { return e.Kind }

// Wrap gives err the kind k; nil stays nil.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// New returns a sentinel error of kind k with the message msg, for errors.Is tests and %w
// wrapping.
func New(k Kind, msg string) error { return &Error{Kind: k, Err: errors.New(msg)} }
