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
	"time"

	"github.com/keyroll/keyroll/internal/failure"
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

// FailureKind says a human must fix the mode: keyroll does not loosen or tighten it.
func (e *ModeError) FailureKind() failure.Kind { return failure.NeedsHuman }

func (e *ModeError) Error() string {
	if !e.Mode.IsRegular() {
		return fmt.Sprintf("evidence: open %s: not a regular file (mode %v)", e.Path, e.Mode)
	}
	return fmt.Sprintf("evidence: open %s: mode %#o lets group or others access the evidence file; want %#o (chmod 600 %s)",
		e.Path, e.Mode.Perm(), FileMode, e.Path)
}

// ErrNeedsHuman is wrapped by the error Open returns when the evidence file cannot be used
// and no tool can safely fix it: a broken record before the last line, a file that ends
// before its anchored head or differs from it, a missing file after a non-empty anchor, a
// signed file without a signer. The message says what to do.
var ErrNeedsHuman = failure.New(failure.NeedsHuman, "evidence file needs a human")

// ErrNotAnchored is wrapped by the error Append returns when the record was written to the
// file but its head could not be anchored. The record stays; the next append anchors.
var ErrNotAnchored = errors.New("record written but not anchored")

// Options configure Open.
type Options struct {
	// Signer, when set, signs every appended record (see the package documentation).
	Signer Signer
	// Anchor, when set, receives the file's head after every append and is compared with
	// the file's end on Open.
	Anchor Anchor
	// Repair moves a torn last line aside and appends a repair record (see Repair).
	Repair bool
	// Timestamper, when set, is the Time-Stamp Authority File.Timestamp asks.
	Timestamper Timestamper
	// Actor names the writer in repair and timestamp records.
	Actor string
	// Now tells the time of repairs; nil: time.Now.
	Now func() time.Time
}

// File is an open hash-chained evidence file (see the package documentation). Its methods
// are safe for concurrent use, and several Files, in one process or many, may append to the
// same path: each Append takes an exclusive flock(2) and re-reads the last record under it.
// A *File is a Sink.
type File struct {
	path string
	o    Options
	mu   sync.Mutex
	f    *os.File // nil once closed
	// anchorVer is the anchor's version after this File's last write; 0 with !anchorKnown
	// means read it first.
	anchorVer   int
	anchorKnown bool
	// pending is how many records follow the last timestamp record.
	pending int
}

// OpenFile opens the evidence file at path for appending unsigned, unanchored records; it
// is Open with no Options.
func OpenFile(path string) (*File, error) {
	f, _, err := Open(context.Background(), path, Options{})
	return f, err
}

// Open opens the evidence file at path for appending, creating it with FileMode if it does
// not exist (its directory must). It checks the whole file first and refuses:
//   - with a *ModeError, a file that group or others may access or that is not regular;
//   - with an error wrapping ErrBrokenTail, a torn last line (cut short by a crash or a
//     full disk), unless o.Repair is set: then the torn bytes are moved to
//     PATH.torn-<UTC time>, a repair record naming them is appended, and the returned
//     *Repair says what was moved;
//   - with an error wrapping ErrNeedsHuman, every other damage, a file that does not match
//     o.Anchor's head, and a signed file without o.Signer.
//
// A file with records after the anchored head (an earlier anchor write failed) is accepted
// as it is: the next Append anchors its new head, which covers them. (Anchoring the old head
// now would put a head in the anchor's history long after its record finished, which is
// what a rewritten history looks like: see VerifyOptions.History.) Errors reading the anchor
// are returned as they are (retryable).
func Open(ctx context.Context, path string, o Options) (*File, *Repair, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	var head *Head
	var anchorVer int
	if o.Anchor != nil {
		h, ver, err := o.Anchor.ReadHead(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("evidence: open %s: read anchor: %w", path, err)
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && h.Seq > 0 {
			return nil, nil, fmt.Errorf("evidence: open %s: %w: the file does not exist but Vault's anchor is at seq %d: "+
				"restore the file from a backup (keyroll then goes on), or, to start a new file on purpose, delete the anchor", path, ErrNeedsHuman, h.Seq)
		}
		head, anchorVer = &h, ver
	}
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, FileMode)
	if err != nil {
		return nil, nil, fmt.Errorf("evidence: open: %w", err)
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, nil, fmt.Errorf("evidence: open %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&^FileMode != 0 {
		fd.Close()
		return nil, nil, &ModeError{Path: path, Mode: fi.Mode()}
	}
	// The version read is where the first anchor write starts from; a conflict re-reads.
	f := &File{path: path, o: o, f: fd, anchorVer: anchorVer, anchorKnown: o.Anchor != nil}
	var rep *Repair
	err = f.locked(ctx, func() error {
		var err error
		rep, _, err = f.check(ctx, head)
		return err
	})
	if err != nil {
		f.f.Close()
		return nil, nil, fmt.Errorf("evidence: open %s: %w", path, err)
	}
	return f, rep, nil
}

// check verifies the whole file against head, repairs a torn tail when allowed, and
// reports whether records after the head await anchoring. It runs under the file lock.
// Nothing is changed unless the records before a torn tail are intact and match the
// anchor; the torn bytes are cut off only once the repair record is ready to be written.
func (f *File) check(ctx context.Context, head *Head) (rep *Repair, unanchored bool, err error) {
	size, err := f.size()
	if err != nil {
		return nil, false, err
	}
	res, err := VerifyWith(io.NewSectionReader(f.f, 0, size), VerifyOptions{Head: head})
	f.pending = res.Untimestamped
	var ce *ChainError
	torn := errors.As(err, &ce) && ce.Torn
	if torn {
		if !f.o.Repair {
			return nil, false, fmt.Errorf("%w: line %d: %s; run `keyroll evidence repair %s` to move it aside", ErrBrokenTail, ce.Line, ce.Reason, f.path)
		}
		// The records before the torn line, against the anchor.
		res, err = VerifyWith(io.NewSectionReader(f.f, 0, res.Size), VerifyOptions{Head: head})
	}
	if res.Signed > 0 && f.o.Signer == nil && (err == nil || errors.As(err, &ce)) {
		return nil, false, fmt.Errorf("%w: its records are signed but no signer is configured: set evidence.signing", ErrNeedsHuman)
	}
	switch {
	case err == nil:
	case !errors.As(err, &ce):
		return nil, false, err
	case ce.Unanchored:
		unanchored = true
	default:
		return nil, false, fmt.Errorf("%w: line %d: %s. keyroll appends nothing to it: keep it as it is, "+
			"find out what changed it (`keyroll evidence verify %s`), then restore a good copy, or move it aside and start a new file on purpose",
			ErrNeedsHuman, ce.Line, ce.Reason, f.path)
	}
	if !torn {
		return nil, unanchored, nil
	}
	if rep, err = f.copyAside(res.Size, size); err != nil {
		return nil, false, fmt.Errorf("repair torn tail: %w", err)
	}
	return rep, false, f.appendRepair(ctx, rep, tail{hash: res.LastHash, seq: int64(res.Records), size: res.Size})
}

// locked runs fn holding the exclusive lock on the file now at f.path. A repair replaces
// the file (rename), so a File that opened the old one reopens the path first: it never
// appends to a file no longer there.
func (f *File) locked(ctx context.Context, fn func() error) error {
	const attempts = 5
	for range attempts {
		stale := false
		err := withLock(ctx, f.f, lockExclusive, func() error {
			held, err := f.f.Stat()
			if err != nil {
				return err
			}
			now, err := os.Stat(f.path)
			if err != nil || !os.SameFile(held, now) {
				stale = true
				return nil
			}
			return fn()
		})
		if err != nil || !stale {
			return err
		}
		if err := f.reopen(); err != nil {
			return fmt.Errorf("reopen after a repair: %w", err)
		}
	}
	return fmt.Errorf("the file at %s was replaced %d times while waiting for it", f.path, attempts)
}

// reopen points f at the file now at f.path, for appends (O_APPEND), and closes the old
// descriptor: after a repair's rename the old one names a file no longer there.
func (f *File) reopen() error {
	fd, err := os.OpenFile(f.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	f.f.Close()
	f.f = fd
	return nil
}

func (f *File) size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Append chains rec onto the file: it sets rec.Seq to the record's line number,
// rec.PrevHash to the last record's hash (GenesisHash for the first record), rec.Hash to
// rec's own hash and, with a Signer, rec.Signature; writes rec as one line with a single
// write call, fsyncs the file, anchors the new head with an Anchor, and returns rec as
// written. ctx bounds the wait for the file lock and the calls to the signer and the
// anchor. A failed write is rolled back so that the file never ends in a partial line. When
// only the anchor fails, the record stays written and the error wraps ErrNotAnchored.
func (f *File) Append(ctx context.Context, rec Record) (Record, error) {
	if err := ctx.Err(); err != nil {
		return rec, fmt.Errorf("evidence: append %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return rec, fmt.Errorf("evidence: append %s: %w", f.path, ErrClosed)
	}
	in := rec
	err := f.locked(ctx, func() error { return f.appendLocked(ctx, &rec) })
	if err != nil {
		return in, fmt.Errorf("evidence: append %s: %w", f.path, err)
	}
	f.pending++
	if err := f.anchor(ctx, Head{Seq: rec.Seq, Hash: rec.Hash, Time: f.o.Now().UTC()}); err != nil {
		return rec, fmt.Errorf("evidence: append %s: %w: seq %d: %w", f.path, ErrNotAnchored, rec.Seq, err)
	}
	return rec, nil
}

// appendLocked writes rec after the last record; the caller holds the file lock.
func (f *File) appendLocked(ctx context.Context, rec *Record) error {
	t, err := readTail(f.f)
	if err != nil {
		return err
	}
	return f.writeAfter(ctx, rec, t)
}

// sealLine seals and signs rec as the successor of t and returns its line.
func (f *File) sealLine(ctx context.Context, rec *Record, t tail) ([]byte, error) {
	var sign func(string) (string, error)
	if f.o.Signer != nil {
		sign = func(hash string) (string, error) { return f.o.Signer.Sign(ctx, signedMessage(hash)) }
	}
	return seal(rec, t.hash, t.seq+1, sign)
}

// writeAfter seals and signs rec as the successor of t, the file's last record, and
// appends it; the caller holds the file lock. A failed write is rolled back to t.size.
func (f *File) writeAfter(ctx context.Context, rec *Record, t tail) error {
	line, err := f.sealLine(ctx, rec, t)
	if err != nil {
		return err
	}
	if _, err := f.f.Write(line); err != nil {
		if terr := f.f.Truncate(t.size); terr != nil {
			return fmt.Errorf("write: %w (and rolling back the partial line failed: %v)", err, terr)
		}
		return fmt.Errorf("write: %w", err)
	}
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	if t.size == 0 {
		syncDir(filepath.Dir(f.path)) // make the new file's name durable too
	}
	return nil
}

// anchor stores h as the anchored head with check-and-set. A writer that loses the race
// re-reads the anchor: when another writer already anchored this record or a later one,
// there is nothing left to do; otherwise it writes again on the version it read.
func (f *File) anchor(ctx context.Context, h Head) error {
	if f.o.Anchor == nil {
		return nil
	}
	const attempts = 5
	for range attempts {
		if !f.anchorKnown {
			cur, ver, err := f.o.Anchor.ReadHead(ctx)
			if err != nil {
				return fmt.Errorf("read anchor: %w", err)
			}
			if cur.Seq >= h.Seq {
				return nil
			}
			f.anchorVer, f.anchorKnown = ver, true
		}
		ver, err := f.o.Anchor.WriteHead(ctx, h, f.anchorVer)
		if errors.Is(err, ErrAnchorConflict) {
			f.anchorKnown = false
			continue
		}
		if err != nil {
			f.anchorKnown = false
			return fmt.Errorf("write anchor: %w", err)
		}
		f.anchorVer = ver
		return nil
	}
	return fmt.Errorf("write anchor: %w %d times", ErrAnchorConflict, attempts)
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

// seal sets rec's chain fields for a predecessor with hash prev, seq (0: none) and, with
// sign, its signature, and returns its line, newline included.
func seal(rec *Record, prev string, seq int64, sign func(hash string) (string, error)) ([]byte, error) {
	rec.Seq, rec.PrevHash, rec.Hash, rec.Signature = seq, prev, "", ""
	unsealed, err := rec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	hash, _, _, err := lineHash(unsealed)
	if err != nil {
		return nil, fmt.Errorf("hash record: %w", err)
	}
	rec.Hash = hash
	if sign != nil {
		if rec.Signature, err = sign(hash); err != nil {
			return nil, fmt.Errorf("sign record: %w", err)
		}
	}
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

// tail is what Append needs to know about the last record.
type tail struct {
	hash   string // GenesisHash when the file is empty
	seq    int64  // its seq: its line number
	signed bool
	typ    string // its type
	size   int64  // the file's size
}

// readTail reads the last record of f. The last line must be an intact record: complete,
// newline-terminated and hashing to its own "hash". (Its prev_hash is not checked here:
// that needs the whole file; Verify does.) A last record without a seq, from a file written
// before records had one, has the file's line count as its seq.
func readTail(f *os.File) (tail, error) {
	fi, err := f.Stat()
	if err != nil {
		return tail{}, err
	}
	t := tail{hash: GenesisHash, size: fi.Size()}
	if t.size == 0 {
		return t, nil
	}
	// Read backwards in blocks until the newline before the last line (or the file's start).
	const block = 4096
	var buf []byte
	start := t.size
	for {
		n := min(int64(block), start)
		start -= n
		b := make([]byte, n)
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return tail{}, fmt.Errorf("read last record: %w", err)
		}
		buf = append(b, buf...)
		if buf[len(buf)-1] != '\n' && start+int64(len(buf)) == t.size {
			return tail{}, fmt.Errorf("%w: the file does not end with a newline (a truncated record?); run `keyroll evidence repair %s`", ErrBrokenTail, f.Name())
		}
		if i := bytes.LastIndexByte(buf[:len(buf)-1], '\n'); i >= 0 {
			buf = buf[i+1:]
			start += int64(i + 1)
			break
		}
		if start == 0 {
			break
		}
		if len(buf) > MaxLineSize {
			return tail{}, fmt.Errorf("%w: the last line is longer than %d bytes; run `keyroll evidence verify %s`", ErrBrokenTail, MaxLineSize, f.Name())
		}
	}
	li, err := parseLine(buf[:len(buf)-1])
	switch {
	case err != nil:
		return tail{}, fmt.Errorf("%w: the line at byte %d: %v; run `keyroll evidence verify %s`", ErrBrokenTail, start, err, f.Name())
	case li.recorded != li.computed:
		return tail{}, fmt.Errorf("%w: the record at byte %d does not hash to its \"hash\" (altered?); run `keyroll evidence verify %s`", ErrBrokenTail, start, f.Name())
	}
	t.hash, t.seq, t.signed, t.typ = li.computed, li.seq, li.signature != "", li.typ
	if !li.hasSeq {
		if t.seq, err = countLines(f, t.size); err != nil {
			return tail{}, fmt.Errorf("count records: %w", err)
		}
	}
	return t, nil
}

// countLines counts the newlines in the first size bytes of f.
func countLines(f *os.File, size int64) (int64, error) {
	var n int64
	buf := make([]byte, 64<<10)
	r := io.NewSectionReader(f, 0, size)
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
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
