package evidence

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
}

// VerifyOptions says what Verify checks besides the hash chain.
type VerifyOptions struct {
	// Keys, when set, makes Verify check every signature and require one on every record
	// from SignedFrom on (every record when SignedFrom is 0).
	Keys       []crypto.PublicKey
	SignedFrom int64
	// Head, when set, is the anchored end of the file: the file must end exactly there.
	Head *Head
}

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
	res := Result{LastHash: GenesisHash, SignaturesChecked: o.Keys != nil}
	v := verifier{o: o, res: &res}
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF && len(line) == 0 {
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
		res.LastHash = li.computed
		res.Size += int64(len(line)) + 1
		if o.Head != nil && int64(lineNo) == o.Head.Seq {
			v.headHash = li.computed
		}
	}
}

// verifier holds what VerifyWith remembers between lines.
type verifier struct {
	o        VerifyOptions
	res      *Result
	sawSeq   bool
	sawSig   bool
	headHash string // the hash of the record at o.Head.Seq
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
	return li, v.checkSignature(li, lineNo), false
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
