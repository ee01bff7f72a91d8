// Package vault is keyroll's key store: the target documents in Vault's KV version 2
// engine, written only with check-and-set, and the Vault login methods (token, kubernetes,
// approle) that keep a session alive across token TTLs.
package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/keyset"
)

// Store reads and writes key documents under one KV v2 mount.
type Store struct {
	client *api.Client
	mount  string
}

// NewStore returns a Store for the KV v2 engine mounted at mount, using client's token.
func NewStore(client *api.Client, mount string) *Store {
	return &Store{client: client, mount: strings.Trim(mount, "/")}
}

// Versioned is a document and the KV version it was read at. Version 0 means the path has
// never been written; a deleted latest version reads as an empty document at that version.
type Versioned struct {
	Doc     keyset.Document
	Version int
}

func (s *Store) dataPath(path string) string { return s.mount + "/data/" + strings.Trim(path, "/") }
func (s *Store) metaPath(path string) string { return s.mount + "/metadata/" + strings.Trim(path, "/") }

// Read returns the latest version of the document at path. A path never written gives
// version 0 and an error wrapping ErrNotFound; a deleted latest version gives the empty
// document at that version and ErrNotFound too, so a writer can still create it with cas.
func (s *Store) Read(ctx context.Context, path string) (Versioned, error) {
	full := s.dataPath(path)
	sec, err := s.client.Logical().ReadWithContext(ctx, full)
	if err != nil {
		return Versioned{}, &Error{Op: "read", Path: full, Kind: classify(err), Err: err}
	}
	if sec == nil || sec.Data == nil {
		return Versioned{}, &Error{Op: "read", Path: full, Kind: ErrNotFound}
	}
	version := metadataVersion(sec.Data["metadata"])
	data, _ := sec.Data["data"].(map[string]any)
	if data == nil {
		return Versioned{Version: version}, &Error{Op: "read", Path: full, Kind: ErrNotFound}
	}
	doc, err := keyset.FromData(data)
	if err != nil {
		return Versioned{Version: version}, &Error{Op: "read", Path: full, Kind: ErrInvalidDocument, Err: err}
	}
	return Versioned{Doc: doc, Version: version}, nil
}

func metadataVersion(v any) int {
	m, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	switch n := m["version"].(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

// Write stores doc as a new version of path if and only if the latest version is cas
// (0: the path must not exist yet). It returns the version written. A lost race wraps
// ErrCASConflict.
func (s *Store) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	full := s.dataPath(path)
	body := map[string]any{
		"data":    doc.Data(),
		"options": map[string]any{"cas": cas},
	}
	sec, err := s.client.Logical().WriteWithContext(ctx, full, body)
	if err != nil {
		return 0, &Error{Op: "write", Path: full, Kind: classify(err), Err: err}
	}
	if sec == nil || sec.Data == nil {
		return 0, &Error{Op: "write", Path: full, Err: fmt.Errorf("no version in Vault's answer")}
	}
	return metadataVersion(sec.Data), nil
}

// WriteMetadata sets the non-secret custom_metadata of path, leaving the other metadata
// settings (max_versions, cas_required, …) as they are.
func (s *Store) WriteMetadata(ctx context.Context, path string, meta map[string]string) error {
	full := s.metaPath(path)
	_, err := s.client.Logical().WriteWithContext(ctx, full, map[string]any{"custom_metadata": meta})
	if err != nil {
		return &Error{Op: "metadata", Path: full, Kind: classify(err), Err: err}
	}
	return nil
}

// ReadField returns one string field of the latest version of the KV v2 secret at path,
// e.g. the DigiCert API key. The value is never part of an error.
func (s *Store) ReadField(ctx context.Context, path, field string) (string, error) {
	full := s.dataPath(path)
	sec, err := s.client.Logical().ReadWithContext(ctx, full)
	if err != nil {
		return "", &Error{Op: "read", Path: full, Kind: classify(err), Err: err}
	}
	var data map[string]any
	if sec != nil && sec.Data != nil {
		data, _ = sec.Data["data"].(map[string]any)
	}
	v, ok := data[field].(string)
	if !ok || v == "" {
		return "", &Error{Op: "read", Path: full + " field " + field, Kind: ErrNotFound}
	}
	return v, nil
}

// MissingCapabilities returns what the session's token lacks to rotate the document at
// path: read, create and update on its data, and create and update on its metadata
// (custom_metadata). Each entry names the capability and the full path.
func (s *Store) MissingCapabilities(ctx context.Context, path string) ([]string, error) {
	want := map[string][]string{
		s.dataPath(path): {"read", "create", "update"},
		s.metaPath(path): {"create", "update"},
	}
	var missing []string
	for _, p := range []string{s.dataPath(path), s.metaPath(path)} {
		caps, err := s.client.Sys().CapabilitiesSelfWithContext(ctx, p)
		if err != nil {
			return nil, &Error{Op: "capabilities", Path: p, Kind: classify(err), Err: err}
		}
		have := map[string]bool{}
		for _, c := range caps {
			have[c] = true
		}
		for _, c := range want[p] {
			if !have[c] && !have["root"] && !have["sudo"] {
				missing = append(missing, c+" on "+p)
			}
		}
	}
	return missing, nil
}
