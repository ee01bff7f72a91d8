package evidence

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// ChainError says where and why an evidence file breaks. Line is 1-based and names the
// first line that is not intact: the records before it verify.
type ChainError struct {
	Line   int
	Reason string
	// Torn is set when the broken line is the file's last and was cut short: it has no
	// final newline or is not valid JSON. A File with Options.Repair moves such a tail aside.
	Torn bool
	// Unanchored is set when the only problem is records after the anchored head: the
	// last anchor write did not happen (yet). The next append re-anchors.
	Unanchored bool
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("evidence chain broken at line %d: %s", e.Line, e.Reason)
}

// Result is what Verify found.
type Result struct {
	// Records is the number of intact records: all of them when the file verifies, those
	// before the broken line when it does not.
	Records int
	// LastHash is the hash of the last intact record (GenesisHash when there is none).
	LastHash string
	// Size is the number of bytes the intact records take, from the file's start.
	Size int64
	// Signed is the number of signed records among them; SignaturesChecked says whether
	// their signatures were verified (VerifyOptions.Keys) or only counted.
	Signed            int
	SignaturesChecked bool
	// KeyVersions lists the Transit key versions the signatures name, ascending.
	KeyVersions []int
	// Anchored is set when the file's end was compared with VerifyOptions.Head and matched.
	Anchored bool
	// Timestamps is the number of timestamp records; with VerifyOptions.TSARoots each was
	// checked (TimestampsChecked), signed by the TSAs named in TSANames. Untimestamped is
	// how many records follow the last timestamp record (pending).
	Timestamps        int
	TimestampsChecked bool
	TSANames          []string
	Untimestamped     int
	// AnchorVersions is how many versions of the anchor's history were checked, from
	// version AnchorFrom (the oldest Vault keeps) on.
	AnchorVersions, AnchorFrom int
}

// VerifyOptions says what Verify checks besides the hash chain.
type VerifyOptions struct {
	// Keys, when set, makes Verify check every signature and require one on every record
	// from SignedFrom on (every record when SignedFrom is 0).
	Keys       []crypto.PublicKey
	SignedFrom int64
	// Head, when set, is the anchored end of the file: the file must end exactly there.
	Head *Head
	// History, when set, is the anchor's version history as Vault keeps it, oldest first
	// (see CheckHistory): every version must hold a seq no lower than the one before, the
	// hash of the file's record at that seq, and have been created by Vault within
	// MaxAnchorDelay (default DefaultMaxAnchorDelay) of the record's finished_at.
	History        []AnchorVersion
	MaxAnchorDelay time.Duration
	// TSARoots, when set, makes Verify check every timestamp record's token: signed by a
	// TSA chaining to these roots, over the record before it, in time order.
	TSARoots *x509.CertPool
}

// AnchorVersion is one version of the anchor as Vault keeps it: the head it held and
// Vault's created_time (Vault's clock, which no keyroll identity sets). Removed is set
// when the version was deleted or destroyed (the job's policy can do neither).
type AnchorVersion struct {
	Version int
	Head    Head
	Created time.Time
	Removed bool
}

// DefaultMaxAnchorDelay is how long after a record's finished_at Vault may have created the
// anchor version holding it: keyroll anchors right after the append, so a longer gap is a
// head written later than its record claims to have been (a rewritten history). It allows
// for clock skew between keyroll's host and Vault, and a slow Transit sign.
const DefaultMaxAnchorDelay = 15 * time.Minute

// Verify reads an evidence file from r and checks its hash chain alone; see VerifyWith.
func Verify(r io.Reader) (Result, error) { return VerifyWith(r, VerifyOptions{}) }

// VerifyWith reads an evidence file from r and recomputes its hash chain (see GenesisHash
// and the canonical encoding in the package documentation), checks that every seq is the
// record's line number and that no unsigned record follows a signed one, and what o asks
// for: signatures and the anchored head. When something does not hold it returns a
// *ChainError naming the first broken line: an edited record (its hash does not match), a
// deleted, inserted or reordered record (its prev_hash does not match the previous hash), a
// truncated record (invalid JSON or no final newline), an empty line, a missing or
// malformed hash, a stripped or forged signature, a file that ends before or after its
// anchored head. A read error is returned wrapped, not as a ChainError. An empty input is a
// valid chain of zero records.
func VerifyWith(r io.Reader, o VerifyOptions) (Result, error) {
	br := bufio.NewReader(r)
	res := Result{LastHash: GenesisHash, SignaturesChecked: o.Keys != nil, TimestampsChecked: o.TSARoots != nil}
	v := verifier{o: o, res: &res}
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF && len(line) == 0 {
			if err := v.checkHistory(); err != nil {
				return res, err
			}
			return res, v.checkHead()
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				return res, &ChainError{Line: lineNo, Reason: err.Error()}
			}
			return res, fmt.Errorf("evidence: verify: read line %d: %w", lineNo, err)
		}
		terminated := err == nil // readLine returns io.EOF with a final unterminated line
		li, reason, invalid := v.checkLine(line, lineNo)
		if reason == "" && !terminated {
			reason = "record not terminated by a newline (truncated?)"
		}
		if reason != "" {
			last := !terminated
			if !last {
				_, perr := br.Peek(1)
				last = perr == io.EOF
			}
			if !terminated {
				reason = "last line: " + reason
			}
			return res, &ChainError{Line: lineNo, Reason: reason, Torn: last && (!terminated || invalid)}
		}
		res.Records++
		v.lastFinished, v.lastSeq = parseTime(li.finished), int64(lineNo)
		res.LastHash = li.computed
		res.Size += int64(len(line)) + 1
		if o.Head != nil && int64(lineNo) == o.Head.Seq {
			v.headHash = li.computed
		}
		if o.History != nil {
			finished, _ := time.Parse(time.RFC3339Nano, li.finished)
			v.recs = append(v.recs, sealedRecord{hash: li.computed, finished: finished})
		}
	}
}

// verifier holds what VerifyWith remembers between lines.
type verifier struct {
	o        VerifyOptions
	res      *Result
	sawSeq   bool
	sawSig   bool
	headHash string         // the hash of the record at o.Head.Seq
	recs     []sealedRecord // with o.History: every intact record so far
	// lastFinished and lastSeq are the previous record's finished_at and seq; lastToken the
	// time of the last timestamp token.
	lastFinished, lastToken time.Time
	lastSeq                 int64
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// checkTimestampLine applies the timestamp rules to one chained record.
func (v *verifier) checkTimestampLine(li lineInfo) string {
	if li.typ != TypeTimestamp {
		v.res.Untimestamped++
		return ""
	}
	v.res.Timestamps++
	v.res.Untimestamped = 0
	if v.o.TSARoots == nil {
		return ""
	}
	name, at, err := checkTimestamp(li.timestamp, v.res.LastHash, v.lastSeq, v.lastFinished, v.o.TSARoots)
	if err != nil {
		return err.Error()
	}
	if at.Before(v.lastToken) {
		return fmt.Sprintf("timestamp time %s is before the previous token's (%s): out of order", stamp(at), stamp(v.lastToken))
	}
	v.lastToken = at
	if name != "" && !slices.Contains(v.res.TSANames, name) {
		v.res.TSANames = append(v.res.TSANames, name)
	}
	return ""
}

// sealedRecord is what the anchor's history is checked against.
type sealedRecord struct {
	hash     string
	finished time.Time
}

// checkLine checks one line (without its newline), the lineNo-th of the file, and returns
// it parsed, or the reason it breaks the file (invalid: the line is not a JSON record).
func (v *verifier) checkLine(line []byte, lineNo int) (li lineInfo, reason string, invalid bool) {
	if len(bytes.TrimSpace(line)) == 0 {
		return li, "empty line", false
	}
	if bytes.HasSuffix(line, []byte("\r")) {
		return li, "line ends with a carriage return", false
	}
	li, err := parseLine(line)
	if err != nil {
		return li, "record is not valid: " + err.Error(), true
	}
	prevHash := v.res.LastHash
	switch {
	case li.recorded == "":
		return li, `record has no "hash"`, false
	case !isHash(li.recorded):
		return li, `"hash" is not 64 lowercase hex digits`, false
	case li.recorded != li.computed:
		return li, fmt.Sprintf("record altered: hash is %s, content hashes to %s", li.recorded, li.computed), false
	case li.prev == "":
		return li, `record has no "prev_hash"`, false
	case li.prev != prevHash:
		what := "the previous record's hash"
		if prevHash == GenesisHash {
			what = "the genesis hash (this is the first line)"
		}
		return li, fmt.Sprintf("prev_hash is %s, want %s, %s: a record before this one was deleted, inserted or reordered", li.prev, prevHash, what), false
	case li.hasSeq && li.seq != int64(lineNo):
		return li, fmt.Sprintf("seq is %d on line %d: records were deleted or inserted, or the file does not start at its first record", li.seq, lineNo), false
	case !li.hasSeq && v.sawSeq:
		return li, `record has no "seq" but an earlier record has one`, false
	}
	v.sawSeq = v.sawSeq || li.hasSeq
	if reason := v.checkSignature(li, lineNo); reason != "" {
		return li, reason, false
	}
	return li, v.checkTimestampLine(li), false
}

// checkSignature applies the signing rules to one chained record.
func (v *verifier) checkSignature(li lineInfo, lineNo int) string {
	if li.signature == "" {
		switch {
		case v.sawSig:
			return "record is not signed but an earlier record is: its signature was stripped"
		case v.o.Keys != nil && int64(lineNo) >= v.o.SignedFrom:
			if v.o.SignedFrom > 0 {
				return fmt.Sprintf("record is not signed, and --signed-from %d requires it: its signature was stripped", v.o.SignedFrom)
			}
			return "record is not signed (signature stripped? for records written before signing was enabled, give --signed-from SEQ)"
		}
		return ""
	}
	v.sawSig = true
	v.res.Signed++
	var version int
	var err error
	if v.o.Keys != nil {
		version, err = verifySignature(v.o.Keys, li.computed, li.signature)
	} else {
		version, _, err = ParseSignature(li.signature)
	}
	if err != nil {
		return err.Error()
	}
	if !slices.Contains(v.res.KeyVersions, version) {
		v.res.KeyVersions = append(v.res.KeyVersions, version)
		slices.Sort(v.res.KeyVersions)
	}
	return ""
}

// checkHead compares the end of an intact file with the anchored head.
func (v *verifier) checkHead() error {
	h := v.o.Head
	if h == nil || h.Seq == 0 {
		v.res.Anchored = h != nil && v.res.Records == 0
		if h != nil && v.res.Records > 0 {
			return &ChainError{Line: 1, Unanchored: true, Reason: "the file has records but nothing is anchored in Vault yet (the anchor write failed; the next append anchors)"}
		}
		return nil
	}
	n := int64(v.res.Records)
	switch {
	case n < h.Seq:
		return &ChainError{Line: v.res.Records + 1, Reason: fmt.Sprintf(
			"the file ends at seq %d but Vault's anchor is at seq %d (anchored %s): records were cut off the end, or an older copy of the file was put back",
			n, h.Seq, h.Time.UTC().Format("2006-01-02T15:04:05Z"))}
	case v.headHash != h.Hash:
		return &ChainError{Line: int(h.Seq), Reason: fmt.Sprintf(
			"record hashes to %s but Vault's anchor for seq %d is %s: the file was rewritten, or an older copy was put back and written to",
			v.headHash, h.Seq, h.Hash)}
	case n > h.Seq:
		return &ChainError{Line: int(h.Seq) + 1, Unanchored: true, Reason: fmt.Sprintf(
			"%d record(s) after Vault's anchored head (seq %d): the last anchor write failed; the next append anchors them", n-h.Seq, h.Seq)}
	}
	v.res.Anchored = true
	return nil
}

// checkHistory walks the anchor's history (see VerifyOptions.History).
func (v *verifier) checkHistory() error {
	hist := v.o.History
	if hist == nil {
		return nil
	}
	v.res.AnchorVersions = len(hist)
	if len(hist) > 0 {
		v.res.AnchorFrom = hist[0].Version
	}
	for i, av := range hist {
		if av.Removed {
			return &ChainError{Line: 1, Reason: fmt.Sprintf("Vault's anchor version %d was deleted or destroyed: someone with more than keyroll's grants removed part of the anchor's history", av.Version)}
		}
		if i > 0 && av.Head.Seq < hist[i-1].Head.Seq {
			return &ChainError{Line: int(av.Head.Seq) + 1, Reason: fmt.Sprintf(
				"Vault's anchor went backwards: version %d (created %s) holds seq %d after version %d held seq %d: the anchor was rolled back, and the file with it",
				av.Version, stamp(av.Created), av.Head.Seq, hist[i-1].Version, hist[i-1].Head.Seq)}
		}
	}
	maxDelay := v.o.MaxAnchorDelay
	if maxDelay <= 0 {
		maxDelay = DefaultMaxAnchorDelay
	}
	for _, av := range hist {
		if av.Head.Seq > int64(len(v.recs)) {
			// Past the file's end: the latest head is, or a later one is lower (above).
			// checkHead says so.
			continue
		}
		r := v.recs[av.Head.Seq-1]
		if r.hash != av.Head.Hash {
			return &ChainError{Line: int(av.Head.Seq), Reason: fmt.Sprintf(
				"record hashes to %s but Vault's anchor version %d (created %s) holds %s for seq %d: the file was rewritten after it was anchored",
				r.hash, av.Version, stamp(av.Created), av.Head.Hash, av.Head.Seq)}
		}
		if d := av.Created.Sub(r.finished); r.finished.IsZero() || d > maxDelay || d < -maxDelay {
			return &ChainError{Line: int(av.Head.Seq), Reason: fmt.Sprintf(
				"Vault anchored seq %d at %s (version %d) but the record says it finished at %s, more than %s apart: a head anchored long after its record, as a rewritten history is",
				av.Head.Seq, stamp(av.Created), av.Version, stamp(r.finished), maxDelay)}
		}
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// VerifyFile is Verify on the file at path.
func VerifyFile(path string) (Result, error) { return VerifyFileWith(path, VerifyOptions{}) }

// VerifyFileWith is VerifyWith on the file at path.
func VerifyFileWith(path string, o VerifyOptions) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{LastHash: GenesisHash}, fmt.Errorf("evidence: verify: %w", err)
	}
	defer f.Close()
	res, err := VerifyWith(f, o)
	if err != nil {
		return res, fmt.Errorf("evidence: verify %s: %w", path, err)
	}
	return res, nil
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineSize)

// readLine returns the next line without its "\n". It returns io.EOF with the last line
// when that line has no newline, and errLineTooLong past MaxLineSize.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLineSize {
			return nil, errLineTooLong
		}
		switch err {
		case nil:
			return line[:len(line)-1], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return line, err
		}
	}
}
