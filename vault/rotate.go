package vault

import (
	"context"

	"github.com/keyroll/keyroll/rotate"
)

// RotateStore adapts a Store to rotate's KeyStore port. Its errors are the Store's
// *Error, which match rotate.ErrNotFound and rotate.ErrConflict (errors.Is) and name
// themselves in evidence records (EvidenceCode).
type RotateStore struct{ *Store }

var _ rotate.KeyStore = RotateStore{}

// Read returns the latest version of the document at path, as Store.Read does.
func (s RotateStore) Read(ctx context.Context, path string) (rotate.Versioned, error) {
	vv, err := s.Store.Read(ctx, path)
	return rotate.Versioned{Doc: vv.Doc, Version: vv.Version, Meta: vv.Meta, MaxVersions: vv.MaxVersions()}, err
}

// MaxVersions is the package's MaxVersions: what WriteMetadata sets.
func (RotateStore) MaxVersions() int { return MaxVersions }

// Is matches rotate's store errors: ErrNotFound is rotate.ErrNotFound and ErrCASConflict
// rotate.ErrConflict.
func (e *Error) Is(target error) bool {
	switch {
	case target == rotate.ErrNotFound:
		return e.Kind == ErrNotFound
	case target == rotate.ErrConflict:
		return e.Kind == ErrCASConflict
	}
	return false
}

// EvidenceCode names the failure in an evidence record: vault_permission_denied,
// vault_unavailable, vault_invalid_document, or "" for the other kinds.
func (e *Error) EvidenceCode() string {
	switch e.Kind {
	case ErrPermissionDenied:
		return "vault_permission_denied"
	case ErrUnavailable:
		return "vault_unavailable"
	case ErrInvalidDocument:
		return "vault_invalid_document"
	}
	return ""
}
