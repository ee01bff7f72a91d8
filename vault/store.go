// Package vault is keyroll's key store: the target documents in Vault's KV version 2
// engine, written only with check-and-set, and the Vault login methods (token, kubernetes,
// approle) that keep a session alive across token TTLs.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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

// MaxVersions is the max_versions WriteMetadata sets on every document: the latest version
// and the one before it. With check-and-set writes that is all a rotation needs, and every
// write removes the versions older than that for good, so retired keys do not linger in the
// history listeners could read with ?version=N.
const MaxVersions = 2

// MetaMaxVersions is the custom_metadata key WriteMetadata records MaxVersions under, so
// that a data read (which returns custom_metadata but not max_versions) tells whether it
// is in force.
const MetaMaxVersions = "max_versions"

// Versioned is a document and the KV version it was read at. Version 0 means the path has
// never been written; a deleted latest version reads as an empty document at that version.
type Versioned struct {
	Doc     keyset.Document
	Version int
	// Meta is the path's custom_metadata as the data read returned it (nil if none).
	Meta map[string]string
}

// MaxVersions returns the max_versions keyroll last set on the path, 0 when unknown.
func (v Versioned) MaxVersions() int {
	n, _ := strconv.Atoi(v.Meta[MetaMaxVersions])
	return n
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
	var meta map[string]string
	if m, ok := sec.Data["metadata"].(map[string]any); ok {
		meta = stringMap(m["custom_metadata"])
	}
	data, _ := sec.Data["data"].(map[string]any)
	if data == nil {
		return Versioned{Version: version, Meta: meta}, &Error{Op: "read", Path: full, Kind: ErrNotFound}
	}
	doc, err := keyset.FromData(data)
	if err != nil {
		return Versioned{Version: version, Meta: meta}, &Error{Op: "read", Path: full, Kind: ErrInvalidDocument, Err: err}
	}
	return Versioned{Doc: doc, Version: version, Meta: meta}, nil
}

// ReadData returns the data of the latest version of the KV v2 secret at path, and that
// version. A path never written gives nil data and version 0; a deleted latest version gives
// nil data and its version.
func (s *Store) ReadData(ctx context.Context, path string) (map[string]any, int, error) {
	full := s.dataPath(path)
	sec, err := s.client.Logical().ReadWithContext(ctx, full)
	if err != nil {
		return nil, 0, &Error{Op: "read", Path: full, Kind: classify(err), Err: err}
	}
	if sec == nil || sec.Data == nil {
		return nil, 0, nil
	}
	data, _ := sec.Data["data"].(map[string]any)
	return data, metadataVersion(sec.Data["metadata"]), nil
}

// ReadVersion returns version n of the document at path. A deleted or destroyed version
// wraps ErrNotFound.
func (s *Store) ReadVersion(ctx context.Context, path string, n int) (keyset.Document, error) {
	full := s.dataPath(path)
	sec, err := s.client.Logical().ReadWithDataWithContext(ctx, full, map[string][]string{"version": {strconv.Itoa(n)}})
	if err != nil {
		return keyset.Document{}, &Error{Op: "read", Path: full, Kind: classify(err), Err: err}
	}
	var data map[string]any
	if sec != nil && sec.Data != nil {
		data, _ = sec.Data["data"].(map[string]any)
	}
	if data == nil {
		return keyset.Document{}, &Error{Op: "read", Path: fmt.Sprintf("%s version %d", full, n), Kind: ErrNotFound}
	}
	doc, err := keyset.FromData(data)
	if err != nil {
		return keyset.Document{}, &Error{Op: "read", Path: full, Kind: ErrInvalidDocument, Err: err}
	}
	return doc, nil
}

// DataVersion is one version of a KV v2 secret as a data read returns it: its data (nil
// when deleted, destroyed or no longer kept) and Vault's own record of it.
type DataVersion struct {
	Number    int
	Data      map[string]any
	Created   time.Time // Vault's created_time: when Vault wrote it, by Vault's clock
	Deleted   bool      // soft-deleted
	Destroyed bool
	Kept      bool // Vault still has this version's metadata (false: never written, or removed by max_versions)
}

// ReadDataVersion reads version n of the KV v2 secret at path with the data read
// capability only (no metadata access).
func (s *Store) ReadDataVersion(ctx context.Context, path string, n int) (DataVersion, error) {
	full := s.dataPath(path)
	dv := DataVersion{Number: n}
	sec, err := s.client.Logical().ReadWithDataWithContext(ctx, full, map[string][]string{"version": {strconv.Itoa(n)}})
	if err != nil {
		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
			return dv, &Error{Op: "read", Path: fmt.Sprintf("%s version %d", full, n), Kind: classify(err), Err: err}
		}
	}
	if sec == nil || sec.Data == nil {
		return dv, nil
	}
	m, _ := sec.Data["metadata"].(map[string]any)
	if m == nil {
		return dv, nil
	}
	dv.Kept = true
	created, _ := m["created_time"].(string)
	dv.Created, _ = time.Parse(time.RFC3339Nano, created)
	deleted, _ := m["deletion_time"].(string)
	dv.Deleted = deleted != ""
	dv.Destroyed, _ = m["destroyed"].(bool)
	dv.Data, _ = sec.Data["data"].(map[string]any)
	return dv, nil
}

// Destroy permanently removes the data of the given versions of path (KV v2 destroy).
// Versions already destroyed or no longer kept are ignored by Vault.
func (s *Store) Destroy(ctx context.Context, path string, versions []int) error {
	full := s.mount + "/destroy/" + strings.Trim(path, "/")
	_, err := s.client.Logical().WriteWithContext(ctx, full, map[string]any{"versions": versions})
	if err != nil {
		return &Error{Op: "destroy", Path: full, Kind: classify(err), Err: err}
	}
	return nil
}

// Version is one entry of a path's version history.
type Version struct {
	Number    int
	Destroyed bool
	Deleted   bool // soft-deleted: the data is kept and can be undeleted
}

// History returns the versions Vault keeps for path, oldest first, and its max_versions
// setting (0: the mount's default).
func (s *Store) History(ctx context.Context, path string) ([]Version, int, error) {
	full := s.metaPath(path)
	sec, err := s.client.Logical().ReadWithContext(ctx, full)
	if err != nil {
		return nil, 0, &Error{Op: "read metadata", Path: full, Kind: classify(err), Err: err}
	}
	if sec == nil || sec.Data == nil {
		return nil, 0, &Error{Op: "read metadata", Path: full, Kind: ErrNotFound}
	}
	var out []Version
	vs, _ := sec.Data["versions"].(map[string]any)
	for k, v := range vs {
		n, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		m, _ := v.(map[string]any)
		destroyed, _ := m["destroyed"].(bool)
		deleted, _ := m["deletion_time"].(string)
		out = append(out, Version{Number: n, Destroyed: destroyed, Deleted: deleted != ""})
	}
	slices.SortFunc(out, func(a, b Version) int { return a.Number - b.Number })
	return out, int(number(sec.Data["max_versions"])), nil
}

// Int returns the integer a field of a Vault answer holds (a json.Number, or a float64
// when the answer was decoded without UseNumber); 0 for anything else.
func Int(v any) int { return int(number(v)) }

func number(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return 0
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func metadataVersion(v any) int {
	m, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	return int(number(m["version"]))
}

// Write stores doc as a new version of path if and only if the latest version is cas
// (0: the path must not exist yet). It returns the version written. A lost race wraps
// ErrCASConflict.
func (s *Store) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	// Whatever answered may have echoed the body: keep its keys out of the error.
	return s.write(ctx, path, doc.Data(), cas, []string{doc.Current, doc.Pending, doc.Previous})
}

// WriteData stores data, which holds no secret, as a new version of the KV v2 secret at
// path, with the same check-and-set rule as Write.
func (s *Store) WriteData(ctx context.Context, path string, data map[string]any, cas int) (int, error) {
	return s.write(ctx, path, data, cas, nil)
}

func (s *Store) write(ctx context.Context, path string, data map[string]any, cas int, secrets []string) (int, error) {
	full := s.dataPath(path)
	body := map[string]any{
		"data":    data,
		"options": map[string]any{"cas": cas},
	}
	sec, err := s.client.Logical().WriteWithContext(ctx, full, body)
	if err != nil {
		return 0, &Error{Op: "write", Path: full, Kind: classify(err), Err: err, secrets: secrets}
	}
	if sec == nil || sec.Data == nil {
		return 0, &Error{Op: "write", Path: full, Err: fmt.Errorf("no version in Vault's answer")}
	}
	return metadataVersion(sec.Data), nil
}

// WriteMetadata sets the non-secret custom_metadata of path, recording MaxVersions in it,
// and sets max_versions to MaxVersions, leaving the other settings (cas_required, …) as
// they are.
func (s *Store) WriteMetadata(ctx context.Context, path string, meta map[string]string) error {
	full := s.metaPath(path)
	cm := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		cm[k] = v
	}
	cm[MetaMaxVersions] = strconv.Itoa(MaxVersions)
	_, err := s.client.Logical().WriteWithContext(ctx, full, map[string]any{"custom_metadata": cm, "max_versions": MaxVersions})
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
// path: read, create and update on its data, read, create and update on its metadata
// (custom_metadata, max_versions, the version history), and update on its destroy path
// (retirement). Each entry names the capability and the full path.
func (s *Store) MissingCapabilities(ctx context.Context, path string) ([]string, error) {
	destroy := s.mount + "/destroy/" + strings.Trim(path, "/")
	return s.Missing(ctx, []string{s.dataPath(path), s.metaPath(path), destroy},
		[][]string{{"read", "create", "update"}, {"read", "create", "update"}, {"update"}})
}

// Missing returns which of the capabilities want[i] on the full path paths[i] the
// session's token lacks, each entry naming the capability and the path. Only the
// capability itself (or root) counts: sudo alone grants nothing.
func (s *Store) Missing(ctx context.Context, paths []string, want [][]string) ([]string, error) {
	var missing []string
	for i, p := range paths {
		caps, err := s.client.Sys().CapabilitiesSelfWithContext(ctx, p)
		if err != nil {
			return nil, &Error{Op: "capabilities", Path: p, Kind: classify(err), Err: err}
		}
		have := map[string]bool{}
		for _, c := range caps {
			have[c] = true
		}
		for _, c := range want[i] {
			// sudo only unlocks root-protected paths on top of the other capabilities; it
			// grants none of them by itself (a sudo-only policy is denied a KV read).
			if !have[c] && !have["root"] {
				missing = append(missing, c+" on "+p)
			}
		}
	}
	return missing, nil
}
