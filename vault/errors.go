package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/internal/failure"
)

// Kinds of failure the rotation branches on. Errors returned by Store wrap one of them;
// test with errors.Is. Each carries its failure kind (failure.Of).
var (
	// ErrNotFound: the document (or field) does not exist, or its latest version is deleted.
	ErrNotFound = failure.New(failure.Retryable, "not found")
	// ErrCASConflict: a check-and-set write lost against another writer.
	ErrCASConflict = failure.New(failure.Retryable, "check-and-set conflict")
	// ErrPermissionDenied: Vault rejected the token or its policy forbids the path. Retrying
	// will not fix it.
	ErrPermissionDenied = failure.New(failure.NeedsHuman, "permission denied")
	// ErrUnavailable: Vault could not be reached, is sealed, or answered 5xx.
	ErrUnavailable = failure.New(failure.Retryable, "vault unavailable")
	// ErrInvalidDocument: the document exists but its data is malformed. Retrying will not
	// fix it.
	ErrInvalidDocument = failure.New(failure.NeedsHuman, "invalid document")
)

// Error is a failed Vault operation: what was done, on which path, the kind of failure
// (one of the Err* sentinels, or nil) and the underlying error.
type Error struct {
	Op   string // read, write, metadata, login
	Path string
	Kind error
	Err  error

	secrets []string // keys of the document read or written, never to be shown
}

// MaxDetail bounds the bytes of Vault's (or a proxy's) answer an error message carries.
const MaxDetail = 300

// longRun matches what may be a key or a token: 32 or more characters of the key alphabet
// in a row, or a Vault token.
var longRun = regexp.MustCompile(`[A-Za-z0-9]{32,}|\bhv[sbr]\.[A-Za-z0-9_-]+`)

// scrub removes the document's keys and anything key-like from text, which came from the
// other side of the connection (an echoing proxy may return the request body), and caps it
// at MaxDetail bytes.
func scrub(text string, secrets []string) string {
	for _, k := range secrets {
		if k != "" {
			text = strings.ReplaceAll(text, k, "[redacted]")
		}
	}
	text = longRun.ReplaceAllString(text, "[redacted]")
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > MaxDetail {
		cut := MaxDetail
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + " …(truncated)"
	}
	return text
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
				b.WriteString(scrub(strings.Join(re.Errors, "; "), e.secrets))
			}
		} else {
			b.WriteString(scrub(e.Err.Error(), e.secrets))
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

// FailureKind is the kind of e.Kind: a denied token or policy and a malformed document
// need a human; anything else (Vault down or sealed, a lost race, a path not found, a
// failure nobody classified) is worth another run.
func (e *Error) FailureKind() failure.Kind {
	if e.Kind == nil {
		return failure.Retryable
	}
	return failure.Of(e.Kind)
}

// OpError wraps err, from the Vault API client, as a failed operation op on path: its
// text scrubbed and capped, its kind classified like every Store error (403 needs a human,
// 5xx and connection errors are retryable).
func OpError(op, path string, err error) *Error {
	return &Error{Op: op, Path: path, Kind: classify(err), Err: err}
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
