// Package vaultsource reads a listener's key document from keyroll's Vault KV v2 store: it
// adapts *vault.Store to listener.DocumentSource. It is the only part of the listener
// library that imports the Vault client; a receiver that keeps its keys elsewhere imports
// listener alone.
package vaultsource

import (
	"context"

	"github.com/keyroll/keyroll/listener"
	"github.com/keyroll/keyroll/vault"
)

// Source reads key documents through a *vault.Store. Its errors are the store's, so they
// wrap the vault.Err* kinds.
type Source struct {
	Store *vault.Store
}

// New returns a Source reading through store.
func New(store *vault.Store) *Source { return &Source{Store: store} }

// Read returns the latest version of the document at path.
func (s *Source) Read(ctx context.Context, path string) (listener.Versioned, error) {
	vv, err := s.Store.Read(ctx, path)
	if err != nil {
		return listener.Versioned{}, err
	}
	return listener.Versioned{Doc: vv.Doc, Version: vv.Version}, nil
}

var _ listener.DocumentSource = (*Source)(nil)
