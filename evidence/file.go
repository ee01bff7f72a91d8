package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// FileMode is the mode of a new evidence file. OpenFile refuses an existing file whose mode
// grants anything to group or others.
const FileMode fs.FileMode = 0o600

// ErrBrokenTail is wrapped by the error OpenFile and Append return when the file's last line
// is not an intact record (truncated by a crash or a full disk, or edited), so that no new
// record is chained onto damage. `keyroll evidence verify FILE` says where the chain breaks.
var ErrBrokenTail = errors.New("last line is not an intact evidence record")

// ErrClosed is wrapped by the error Append returns after Close.
var ErrClosed = errors.New("evidence file is closed")

// ModeError is returned by OpenFile for an existing evidence file that group or others may
// access, or that is not a regular file.
type ModeError struct {
	Path string
	Mode fs.FileMode
}

func (e *ModeError) Error() string {
	if !e.Mode.IsRegular() {
		return fmt.Sprintf("evidence: open %s: not a regular file (mode %v)", e.Path, e.Mode)
	}
	return fmt.Sprintf("evidence: open %s: mode %#o lets group or others access the evidence file; want %#o (chmod 600 %s)",
		e.Path, e.Mode.Perm(), FileMode, e.Path)
}

// File is an open hash-chained evidence file (see the package documentation). Its methods
// are safe for concurrent use, and several Files, in one process or many, may append to the
// same path: each Append takes an exclusive flock(2) and re-reads the last record's hash
// under it. A *File is a Sink.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File // nil once closed
}

// OpenFile opens the evidence file at path for appending, creating it with FileMode if it
// does not exist (its directory must). It refuses, with a *ModeError, an existing file that
// group or others may access, and, with an error wrapping ErrBrokenTail, a file whose last
// line is not an intact record. The file is opened read-write (and O_APPEND) because each
// Append reads the last record back through the same descriptor.
func OpenFile(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("evidence: open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evidence: open %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&^FileMode != 0 {
		f.Close()
		return nil, &ModeError{Path: path, Mode: fi.Mode()}
	}
	err = withLock(context.Background(), f, lockShared, func() error {
		_, _, err := readTail(f)
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evidence: open %s: %w", path, err)
	}
	return &File{path: path, f: f}, nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Append chains rec onto the file: it sets rec.PrevHash to the last record's hash
// (GenesisHash for the first record) and rec.Hash to rec's own hash, writes rec as one line
// with a single write call, fsyncs the file, and returns rec as written. ctx bounds the wait
// for the file lock only; once writing has started it completes. A failed write is rolled
// back so that the file never ends in a partial line.
func (f *File) Append(ctx context.Context, rec Record) (Record, error) {
	if err := ctx.Err(); err != nil {
		return rec, fmt.Errorf("evidence: append %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return rec, fmt.Errorf("evidence: append %s: %w", f.path, ErrClosed)
	}
	err := withLock(ctx, f.f, lockExclusive, func() error {
		prev, size, err := readTail(f.f)
		if err != nil {
			return err
		}
		line, err := seal(&rec, prev)
		if err != nil {
			return err
		}
		if _, err := f.f.Write(line); err != nil {
			if terr := f.f.Truncate(size); terr != nil {
				return fmt.Errorf("write: %w (and rolling back the partial line failed: %v)", err, terr)
			}
			return fmt.Errorf("write: %w", err)
		}
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
		if size == 0 {
			syncDir(filepath.Dir(f.path)) // make the new file's name durable too
		}
		return nil
	})
	if err != nil {
		return rec, fmt.Errorf("evidence: append %s: %w", f.path, err)
	}
	return rec, nil
}

// Emit appends rec; it makes *File a Sink.
func (f *File) Emit(ctx context.Context, rec Record) error {
	_, err := f.Append(ctx, rec)
	return err
}

// Close closes the file. Closing a closed File does nothing.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return fmt.Errorf("evidence: close %s: %w", f.path, err)
	}
	return nil
}

// seal sets rec's chain fields for a predecessor with hash prev and returns its line,
// newline included.
func seal(rec *Record, prev string) ([]byte, error) {
	rec.PrevHash, rec.Hash = prev, ""
	unsealed, err := rec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	hash, _, _, err := lineHash(unsealed)
	if err != nil {
		return nil, fmt.Errorf("hash record: %w", err)
	}
	rec.Hash = hash
	line, err := rec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	line = append(line, '\n')
	if len(line) > MaxLineSize {
		return nil, fmt.Errorf("record is %d bytes, longer than %d", len(line), MaxLineSize)
	}
	return line, nil
}

// readTail returns the hash of the last record of f (GenesisHash when f is empty) and f's
// size. The last line must be an intact record: complete, newline-terminated and hashing to
// its own "hash". (Its prev_hash is not checked here: that needs the whole file; Verify does.)
func readTail(f *os.File) (hash string, size int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	size = fi.Size()
	if size == 0 {
		return GenesisHash, 0, nil
	}
	// Read backwards in blocks until the newline before the last line (or the file's start).
	const block = 4096
	var tail []byte
	start := size
	for {
		n := int64(block)
		if start < n {
			n = start
		}
		start -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return "", 0, fmt.Errorf("read last record: %w", err)
		}
		tail = append(buf, tail...)
		if tail[len(tail)-1] != '\n' && start+int64(len(tail)) == size {
			return "", 0, fmt.Errorf("%w: the file does not end with a newline (a truncated record?); run `keyroll evidence verify %s`", ErrBrokenTail, f.Name())
		}
		if i := bytes.LastIndexByte(tail[:len(tail)-1], '\n'); i >= 0 {
			tail = tail[i+1:]
			start += int64(i + 1)
			break
		}
		if start == 0 {
			break
		}
		if len(tail) > MaxLineSize {
			return "", 0, fmt.Errorf("%w: the last line is longer than %d bytes; run `keyroll evidence verify %s`", ErrBrokenTail, MaxLineSize, f.Name())
		}
	}
	line := tail[:len(tail)-1]
	computed, recorded, _, err := lineHash(line)
	switch {
	case err != nil:
		return "", 0, fmt.Errorf("%w: the line at byte %d: %v; run `keyroll evidence verify %s`", ErrBrokenTail, start, err, f.Name())
	case recorded != computed:
		return "", 0, fmt.Errorf("%w: the record at byte %d does not hash to its \"hash\" (altered?); run `keyroll evidence verify %s`", ErrBrokenTail, start, f.Name())
	}
	return computed, size, nil
}

// syncDir fsyncs a directory, best effort: some file systems do not support it, and the
// record itself is already durable.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
