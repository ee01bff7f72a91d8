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

// repairPoint is called at each step of a repair with its name; a test makes it return an
// error to stop the repair there, as a crash would (nothing after it runs, no clean-up).
var repairPoint = func(string) error { return nil }

// appendRepair replaces the file by its intact records t followed by the repair record of
// rep, and anchors it; the caller holds the lock. The new file is written beside the old
// one, fsynced and renamed over it, so that at any crash or failed write the path holds
// either the old file, torn tail included, or the repaired one with its repair record:
// never the intact records alone, which would verify without a trace of the cut.
func (f *File) appendRepair(ctx context.Context, rep *Repair, t tail) error {
	now := f.o.Now().UTC()
	rec := Record{Type: TypeRepair, Actor: f.o.Actor, StartedAt: now, FinishedAt: now, Repair: rep}
	line, err := f.sealLine(ctx, &rec, t)
	if err != nil {
		return fmt.Errorf("append repair record: %w", err)
	}
	if err := f.replaceWith(t.size, line); err != nil {
		return fmt.Errorf("append repair record: %w", err)
	}
	if err := f.anchor(ctx, Head{Seq: rec.Seq, Hash: rec.Hash, Time: now}); err != nil {
		return fmt.Errorf("%w: repair record seq %d: %w", ErrNotAnchored, rec.Seq, err)
	}
	return nil
}

// replaceWith writes the first size bytes of the file and then line to a new file in the
// same directory, fsyncs it, renames it over the file and switches f to it.
func (f *File) replaceWith(size int64, line []byte) error {
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.path)+".repair-*")
	if err != nil {
		return err
	}
	if err := tmp.Chmod(FileMode); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := repairPoint("temp created"); err != nil {
		return err
	}
	_, err = io.Copy(tmp, io.NewSectionReader(f.f, 0, size))
	if err == nil {
		err = repairPoint("records copied")
	}
	if err == nil {
		_, err = tmp.Write(line)
	}
	if err == nil {
		err = repairPoint("record written")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err != nil {
		tmp.Close()
		if !errors.Is(err, errCrash) {
			os.Remove(tmp.Name())
		}
		return fmt.Errorf("write the repaired file: %w", err)
	}
	if err := repairPoint("synced"); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("replace %s by the repaired file: %w", f.path, err)
	}
	syncDir(dir)
	tmp.Close()
	if err := repairPoint("renamed"); err != nil {
		return err
	}
	// Appends go through an O_APPEND descriptor of the file now at the path. (The old
	// descriptor's lock goes with it; other Files notice the rename and reopen.)
	if err := f.reopen(); err != nil {
		return fmt.Errorf("reopen the repaired file: %w", err)
	}
	return nil
}

// errCrash is what a test's repairPoint returns to stop a repair as a crash would.
var errCrash = errors.New("simulated crash")
