package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// TypeRepair is the Record.Type of a repair record.
const TypeRepair = "repair"

// Repair says what a repair moved out of an evidence file: the torn last line, as it was.
// It is the "repair" member of a repair record.
type Repair struct {
	File   string `json:"file"`   // the file the bytes were moved to, in the evidence file's directory
	Bytes  int64  `json:"bytes"`  // how many bytes were moved
	SHA256 string `json:"sha256"` // their SHA-256, lowercase hex
}

// copyAside copies the bytes of f from good to size to a new file PATH.torn-<UTC time>
// (FileMode, fsynced). writeAfter cuts them off f when it writes the repair record.
func (f *File) copyAside(good, size int64) (*Repair, error) {
	torn := make([]byte, size-good)
	if _, err := f.f.ReadAt(torn, good); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read torn tail: %w", err)
	}
	base := f.path + ".torn-" + f.o.Now().UTC().Format("20060102T150405Z")
	name := base
	var out *os.File
	for i := 2; ; i++ {
		var err error
		out, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return nil, err
		}
		name = base + "-" + strconv.Itoa(i)
	}
	_, err := out.Write(torn)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	syncDir(filepath.Dir(name))
	sum := sha256.Sum256(torn)
	return &Repair{File: filepath.Base(name), Bytes: int64(len(torn)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// appendRepair writes the repair record of rep after the intact records t, in place of the
// torn tail, and anchors it; the caller holds the lock.
func (f *File) appendRepair(ctx context.Context, rep *Repair, t tail) error {
	now := f.o.Now().UTC()
	rec := Record{Type: TypeRepair, Actor: f.o.Actor, StartedAt: now, FinishedAt: now, Repair: rep}
	if err := f.writeAfter(ctx, &rec, t); err != nil {
		return fmt.Errorf("append repair record: %w", err)
	}
	if err := f.anchor(ctx, Head{Seq: rec.Seq, Hash: rec.Hash, Time: now}); err != nil {
		return fmt.Errorf("%w: repair record seq %d: %w", ErrNotAnchored, rec.Seq, err)
	}
	return nil
}
