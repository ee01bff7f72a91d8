package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/failure"
)

// Kinds of failure the rotation branches on. Errors returned by Store wrap one of them;
// test with errors.Is.
var (
	// ErrNotFound: the document (or field) does not exist, or its latest version is deleted.
	ErrNotFound = errors.New("not found")
	// ErrCASConflict: a check-and-set write lost against another writer.
	ErrCASConflict = errors.New("check-and-set conflict")
	// ErrPermissionDenied: Vault rejected the token or its policy forbids the path.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable: Vault could not be reached, is sealed, or answered 5xx.
	ErrUnavailable = errors.New("vault unavailable")
	// ErrInvalidDocument: the document exists but its data is malformed.
	ErrInvalidDocument = errors.New("invalid document")
)

// Error is a failed Vault operation: what was done, on which path, the kind of failure
// (one of the Err* sentinels, or nil) and the underlying error.
type Error struct {
	Op   string // read, write, metadata, login
	Path string
	Kind error
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vault: ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": ")
		var re *api.ResponseError
		if errors.As(e.Err, &re) {
			// One line instead of the client's multi-line block with the full URL.
			fmt.Fprintf(&b, "HTTP %d", re.StatusCode)
			if len(re.Errors) > 0 {
				b.WriteString(": ")
				b.WriteString(strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " "))
			}
		} else {
			b.WriteString(e.Err.Error())
		}
	}
	return b.String()
}

// Unwrap returns the kind and the underlying error, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// FailureKind says what the failure needs: a denied token or policy and a malformed
// document need a human; anything else (Vault down or sealed, a lost race, a path not
// found) is worth another run.
func (e *Error) FailureKind() failure.Kind {
	if errors.Is(e.Kind, ErrPermissionDenied) || errors.Is(e.Kind, ErrInvalidDocument) {
		return failure.NeedsHuman
	}
	return failure.Retryable
}

// classify maps an error from the Vault API client to one of the kinds.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusNotFound:
			return ErrNotFound
		case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized:
			return ErrPermissionDenied
		case re.StatusCode == http.StatusBadRequest && mentions(re.Errors, "check-and-set"):
			return ErrCASConflict
		case re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests:
			return ErrUnavailable
		}
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.As(err, &oe) {
		return ErrUnavailable
	}
	return nil
}

func mentions(msgs []string, s string) bool {
	for _, m := range msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}
