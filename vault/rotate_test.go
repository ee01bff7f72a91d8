package vault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// TestErrorsMatchRotatePorts: the store's kinds are rotate's port errors, wrapped or not,
// and name themselves for the evidence; the other kinds match neither.
func TestErrorsMatchRotatePorts(t *testing.T) {
	for _, tt := range []struct {
		kind               error
		notFound, conflict bool
		code               string
	}{
		{vault.ErrNotFound, true, false, ""},
		{vault.ErrCASConflict, false, true, ""},
		{vault.ErrPermissionDenied, false, false, "vault_permission_denied"},
		{vault.ErrUnavailable, false, false, "vault_unavailable"},
		{vault.ErrInvalidDocument, false, false, "vault_invalid_document"},
		{nil, false, false, ""},
	} {
		e := &vault.Error{Op: "write", Path: "secret/data/x", Kind: tt.kind}
		err := fmt.Errorf("context: %w", e)
		if errors.Is(err, rotate.ErrNotFound) != tt.notFound || errors.Is(err, rotate.ErrConflict) != tt.conflict {
			t.Errorf("%v: Is(ErrNotFound) = %t, Is(ErrConflict) = %t", tt.kind, errors.Is(err, rotate.ErrNotFound), errors.Is(err, rotate.ErrConflict))
		}
		if tt.kind != nil && !errors.Is(err, tt.kind) {
			t.Errorf("%v: no longer matches its own kind", tt.kind)
		}
		if got := e.EvidenceCode(); got != tt.code {
			t.Errorf("%v: EvidenceCode = %q, want %q", tt.kind, got, tt.code)
		}
	}
	if (vault.RotateStore{}).MaxVersions() != vault.MaxVersions {
		t.Error("RotateStore.MaxVersions is not vault.MaxVersions")
	}
}
