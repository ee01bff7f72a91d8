package evidencevault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/vault"
)

// Anchor keeps an evidence file's head in a KV v2 secret, written with check-and-set. The
// job's policy grants create, read and update on its data path only: no metadata, delete,
// destroy or undelete, so the job can add versions but never remove one or lower the
// path's max_versions, which the Vault set-up sets (see Setup).
type Anchor struct {
	store *vault.Store
	path  string
}

// NewAnchor returns the Anchor at path (relative to store's mount).
func NewAnchor(store *vault.Store, path string) Anchor { return Anchor{store: store, path: path} }

// ReadHead implements evidence.Anchor.
func (a Anchor) ReadHead(ctx context.Context) (evidence.Head, int, error) {
	data, version, err := a.store.ReadData(ctx, a.path)
	if err != nil || data == nil { // never written, or the latest version was deleted
		return evidence.Head{}, version, err
	}
	h, err := headOf(data)
	if err != nil {
		return evidence.Head{}, 0, fmt.Errorf("vault read %s: %w", a.path, err)
	}
	return h, version, nil
}

// headOf decodes an anchored head.
func headOf(data map[string]any) (evidence.Head, error) {
	var h evidence.Head
	h.Seq = int64(vault.Int(data["seq"]))
	h.Hash, _ = data["hash"].(string)
	if t, ok := data["time"].(string); ok {
		h.Time, _ = time.Parse(time.RFC3339Nano, t)
	}
	if h.Seq < 1 || h.Hash == "" {
		return evidence.Head{}, errors.New("the anchor has no seq and hash")
	}
	return h, nil
}

// WriteHead implements evidence.Anchor.
func (a Anchor) WriteHead(ctx context.Context, h evidence.Head, cas int) (int, error) {
	v, err := a.store.WriteData(ctx, a.path, map[string]any{"seq": h.Seq, "hash": h.Hash, "time": h.Time.UTC().Format(time.RFC3339Nano)}, cas)
	if errors.Is(err, vault.ErrCASConflict) {
		return 0, fmt.Errorf("%w: %w", evidence.ErrAnchorConflict, err)
	}
	return v, err
}

// History walks the anchor's kept versions down from the latest with data reads only (the
// job's own grants suffice) and returns them oldest first, as Vault recorded them: the head
// each held and Vault's created_time. It stops at the first version Vault no longer keeps
// (removed by max_versions); a version deleted or destroyed in between is returned with
// Removed set. One read per version, plus one for the latest.
func (a Anchor) History(ctx context.Context) ([]evidence.AnchorVersion, error) {
	_, latest, err := a.store.ReadData(ctx, a.path)
	if err != nil {
		return nil, err
	}
	var out []evidence.AnchorVersion
	for n := latest; n >= 1; n-- {
		dv, err := a.store.ReadDataVersion(ctx, a.path, n)
		if err != nil {
			return nil, err
		}
		if !dv.Kept {
			break
		}
		av := evidence.AnchorVersion{Version: n, Created: dv.Created, Removed: dv.Deleted || dv.Destroyed || dv.Data == nil}
		if !av.Removed {
			if av.Head, err = headOf(dv.Data); err != nil {
				return nil, fmt.Errorf("vault read %s version %d: %w", a.path, n, err)
			}
		}
		out = append(out, av)
	}
	slices.Reverse(out)
	return out, nil
}
