package rotate

import (
	"errors"
	"fmt"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/vault"
)

// Failures a caller branches on. They are wrapped in *Error.
var (
	// ErrNeedsHuman matches every failure that retrying will not fix (exit code 3).
	ErrNeedsHuman = errors.New("needs a human")
	// ErrDrift: DigiCert's live secret is neither the current nor the pending key.
	ErrDrift = errors.New("drift: DigiCert's live secret is not a key in Vault (rerun with --force to adopt it)")
	// ErrNotActive: the webhook is not active at DigiCert.
	ErrNotActive = errors.New("webhook is not active")
	// ErrListenerRejected: DigiCert's test event with the new key did not reach a 2xx.
	ErrListenerRejected = errors.New("listener rejected the test event with the new key")
	// ErrVerify: reading the webhook back after the push showed something unexpected.
	ErrVerify = errors.New("verification after push failed")
	// ErrContention: the document kept changing under this run.
	ErrContention = errors.New("document keeps changing: too many concurrent writers")
)

// Error is a failed rotation of one target at one step.
type Error struct {
	Target     string
	Step       string
	NeedsHuman bool
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("rotate: %s %s: %v", e.Step, e.Target, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNeedsHuman) true for failures that need a human.
func (e *Error) Is(target error) bool { return target == ErrNeedsHuman && e.NeedsHuman }

// Code is a short machine-readable name of the failure for evidence records.
func (e *Error) Code() string {
	switch {
	case errors.Is(e.Err, ErrDrift):
		return "drift"
	case errors.Is(e.Err, ErrNotActive):
		return "webhook_not_active"
	case errors.Is(e.Err, ErrListenerRejected):
		return "listener_rejected"
	case errors.Is(e.Err, ErrVerify):
		return "verify_failed"
	case errors.Is(e.Err, ErrContention):
		return "contention"
	case certcentral.IsCredentialsRejected(e.Err):
		return "digicert_credentials_rejected"
	case errors.Is(e.Err, vault.ErrPermissionDenied):
		return "vault_permission_denied"
	case errors.Is(e.Err, vault.ErrUnavailable):
		return "vault_unavailable"
	case errors.Is(e.Err, vault.ErrInvalidDocument):
		return "vault_invalid_document"
	case certcentral.IsRetryable(e.Err):
		return "digicert_unavailable"
	}
	var ae *certcentral.APIError
	if errors.As(e.Err, &ae) {
		return "digicert_error"
	}
	if errors.Is(e.Err, errCanceled) {
		return "canceled"
	}
	return "error"
}

var errCanceled = errors.New("canceled")

// needsHuman decides whether err is one retrying will not fix.
func needsHuman(err error) bool {
	switch {
	case errors.Is(err, ErrDrift), errors.Is(err, ErrNotActive):
		return true
	case errors.Is(err, vault.ErrPermissionDenied), errors.Is(err, vault.ErrInvalidDocument):
		return true
	case certcentral.IsCredentialsRejected(err):
		return true
	case errors.Is(err, certcentral.ErrNoWebhook), errors.Is(err, certcentral.ErrAmbiguousWebhook):
		return true // no webhook to rotate, or several and no webhook_id to pick one
	}
	var ae *certcentral.APIError
	if errors.As(err, &ae) && !ae.Retryable() {
		// Any other 4xx: DigiCert refused the request; repeating it will not help.
		return !errors.Is(err, ErrListenerRejected)
	}
	return false
}
