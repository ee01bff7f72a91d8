package rotate

import (
	"errors"
	"fmt"

	"github.com/keyroll/keyroll/internal/failure"
)

// Failures a caller branches on. They are wrapped in *Error.
var (
	// ErrDrift: DigiCert's live secret is neither the current nor the pending key.
	ErrDrift = failure.New(failure.NeedsHuman, "drift: DigiCert's live secret is not a key in Vault (rerun with --adopt-drift to keep it as previous and rotate)")
	// ErrBinding: the document belongs to another webhook or CertCentral host.
	ErrBinding = failure.New(failure.NeedsHuman, "document bound to another webhook (rerun with --rebind to move it to this webhook)")
	// ErrNotActive: the webhook is not active at DigiCert.
	ErrNotActive = failure.New(failure.NeedsHuman, "webhook is not active")
	// ErrListenerRejected: DigiCert's test event with the new key did not reach a 2xx.
	ErrListenerRejected = errors.New("listener rejected the test event with the new key")
	// ErrVerify: reading the webhook back after the push showed something unexpected.
	ErrVerify = errors.New("verification after push failed")
	// ErrContention: the document kept changing under this run.
	ErrContention = errors.New("document keeps changing: too many concurrent writers")
	// ErrKeyUnknown: an API-key target's document holds no key, or no id for it.
	ErrKeyUnknown = failure.New(failure.NeedsHuman, "the API key in the document is unknown")
	// ErrHeld: the previous API key is still in use and the policy (in_use: hold) keeps it.
	ErrHeld = failure.New(failure.NeedsHuman, "held: the previous API key is still in use")
	// ErrNotAuthenticated: the API key a rotation created did not authenticate, after
	// retries. Retryable: the next run resumes with the same key.
	ErrNotAuthenticated = errors.New("the new API key does not authenticate")
)

// Error is a failed rotation of one target at one step.
type Error struct {
	Target string
	Step   string
	Kind   failure.Kind // see kindOf
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("rotate: %s %s: %v", e.Step, e.Target, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// FailureKind returns e.Kind (Retryable when unset).
func (e *Error) FailureKind() failure.Kind {
	if e.Kind == failure.None {
		return failure.Retryable
	}
	return e.Kind
}

// Code is a short machine-readable name of the failure for evidence records.
func (e *Error) Code() string {
	switch {
	case errors.Is(e.Err, ErrDrift):
		return "drift"
	case errors.Is(e.Err, ErrNotActive):
		return "webhook_not_active"
	case errors.Is(e.Err, ErrBinding):
		return "binding"
	case errors.Is(e.Err, ErrListenerRejected):
		return "listener_rejected"
	case errors.Is(e.Err, ErrVerify):
		return "verify_failed"
	case errors.Is(e.Err, ErrContention):
		return "contention"
	case errors.Is(e.Err, ErrKeyUnknown):
		return "api_key_unknown"
	case errors.Is(e.Err, ErrHeld):
		return "held"
	case errors.Is(e.Err, ErrNotAuthenticated):
		return "not_authenticated"
	case errors.Is(e.Err, ErrKeyRejected):
		return "api_key_rejected"
	}
	var c coded
	if errors.As(e.Err, &c) && c.EvidenceCode() != "" {
		return c.EvidenceCode() // the adapter's name for it: vault_unavailable, digicert_error, …
	}
	if errors.Is(e.Err, errCanceled) {
		return "canceled"
	}
	return "error"
}

var errCanceled = errors.New("canceled")

// kindOf decides the kind of a rotation's failure: the kind its cause carries (vault,
// certcentral and this package's sentinels decide theirs), except that a listener
// rejecting the test event is worth another run, since nothing was pushed.
func kindOf(err error) failure.Kind {
	if errors.Is(err, ErrListenerRejected) {
		return failure.Retryable
	}
	return failure.Of(err)
}
