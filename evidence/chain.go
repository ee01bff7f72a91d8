package evidence

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"
)

// GenesisHash is the prev_hash of the first record of an evidence file: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineSize is the longest evidence line Verify and File accept, newline included.
// A record is a few kilobytes at most; a longer line is damage, not evidence.
const MaxLineSize = 1 << 20

// lineHash returns the hash (see the package documentation) of one evidence line, without
// its newline, and the values of the line's own "hash" and "prev_hash" members ("" when
// missing or not strings).
func lineHash(line []byte) (computed, recorded, prev string, err error) {
	v, err := decodeStrict(line)
	if err != nil {
		return "", "", "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", "", "", errors.New("not a JSON object")
	}
	recorded, _ = obj["hash"].(string)
	prev, _ = obj["prev_hash"].(string)
	delete(obj, "hash")
	var buf bytes.Buffer
	writeCanonical(&buf, obj)
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), recorded, prev, nil
}

// decodeStrict decodes exactly one JSON value from b, keeping numbers as written and
// rejecting invalid UTF-8, duplicate keys and trailing data.
func decodeStrict(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the object")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string) // the decoder only yields string keys inside an object
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				if obj[k], err = decodeValue(dec); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default: // string, json.Number, bool, nil
		return t, nil
	}
}

// writeCanonical writes v, as produced by decodeValue, in the canonical encoding.
func writeCanonical(buf *bytes.Buffer, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeCanonical(buf, t[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonical(buf, e)
		}
		buf.WriteByte(']')
	case string:
		writeString(buf, t)
	case json.Number:
		buf.WriteString(string(t))
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	default:
		panic(fmt.Sprintf("evidence: canonical encoding of %T", v))
	}
}

func writeString(buf *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case c == '\b':
			buf.WriteString(`\b`)
		case c == '\t':
			buf.WriteString(`\t`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '\f':
			buf.WriteString(`\f`)
		case c == '\r':
			buf.WriteString(`\r`)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hexDigits[c>>4])
			buf.WriteByte(hexDigits[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}

// ChainError says where and why an evidence file's hash chain breaks. Line is 1-based and
// names the first line that is not intact: the records before it verify.
type ChainError struct {
	Line   int
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("evidence chain broken at line %d: %s", e.Line, e.Reason)
}

// Result is what Verify found.
type Result struct {
	// Records is the number of intact records: all of them when the chain verifies, those
	// before the broken line when it does not.
	Records int
	// LastHash is the hash of the last intact record (GenesisHash when there is none).
	// Compare it with the hash of the last evidence log line: a file cut off after a
	// whole record still verifies, but its last hash is then an older one.
	LastHash string
}

// Verify reads an evidence file from r and recomputes its hash chain (see GenesisHash and
// the canonical encoding in the package documentation). It returns the number of intact records
// and, when the chain breaks, a *ChainError naming the first broken line: an edited record
// (its hash does not match), a deleted, inserted or reordered record (its prev_hash does not
// match the previous hash), a truncated record (invalid JSON or no final newline), an empty
// line, a missing or malformed hash. A read error is returned wrapped, not as a ChainError.
// An empty input is a valid chain of zero records.
func Verify(r io.Reader) (Result, error) {
	br := bufio.NewReader(r)
	res := Result{LastHash: GenesisHash}
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF && len(line) == 0 {
			return res, nil
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				return res, &ChainError{Line: lineNo, Reason: err.Error()}
			}
			return res, fmt.Errorf("evidence: verify: read line %d: %w", lineNo, err)
		}
		terminated := err == nil // readLine returns io.EOF with a final unterminated line
		hash, reason := checkLine(line, res.LastHash)
		if reason == "" && !terminated {
			reason = "record not terminated by a newline (truncated?)"
		}
		if reason != "" {
			if !terminated {
				reason = "last line: " + reason
			}
			return res, &ChainError{Line: lineNo, Reason: reason}
		}
		res.Records++
		res.LastHash = hash
	}
}

// VerifyFile is Verify on the file at path.
func VerifyFile(path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{LastHash: GenesisHash}, fmt.Errorf("evidence: verify: %w", err)
	}
	defer f.Close()
	res, err := Verify(f)
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

// checkLine checks one line (without its newline) against the previous record's hash and
// returns the line's hash, or the reason the line breaks the chain.
func checkLine(line []byte, prevHash string) (hash, reason string) {
	if len(bytes.TrimSpace(line)) == 0 {
		return "", "empty line"
	}
	if bytes.HasSuffix(line, []byte("\r")) {
		return "", "line ends with a carriage return"
	}
	computed, recorded, prev, err := lineHash(line)
	if err != nil {
		return "", "record is not valid: " + err.Error()
	}
	switch {
	case recorded == "":
		return "", `record has no "hash"`
	case !isHash(recorded):
		return "", `"hash" is not 64 lowercase hex digits`
	case recorded != computed:
		return "", fmt.Sprintf("record altered: hash is %s, content hashes to %s", recorded, computed)
	case prev == "":
		return "", `record has no "prev_hash"`
	case prev != prevHash:
		what := "the previous record's hash"
		if prevHash == GenesisHash {
			what = "the genesis hash (this is the first line)"
		}
		return "", fmt.Sprintf("prev_hash is %s, want %s, %s: a record before this one was deleted, inserted or reordered", prev, prevHash, what)
	}
	return computed, ""
}

func isHash(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
