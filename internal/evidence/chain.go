package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// GenesisHash is the prev_hash of the first record of an evidence file: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineSize is the longest evidence line Verify and File accept, newline included.
// A record is a few kilobytes at most; a longer line is damage, not evidence.
const MaxLineSize = 1 << 20

// lineInfo is what the chain needs from one evidence line.
type lineInfo struct {
	computed  string // the line's hash: SHA-256 of its canonical encoding without "hash" and "signature"
	recorded  string // the line's own "hash" ("" when missing or not a string)
	prev      string // its "prev_hash"
	seq       int64  // its "seq" (0 when missing)
	hasSeq    bool
	signature string // its "signature" ("" when missing)
	finished  string // its "finished_at" ("" when missing)
	typ       string // its "type" ("" for a rotation attempt)
	timestamp *Timestamp
}

// parseLine decodes one evidence line, without its newline, and computes its hash (see the
// package documentation).
func parseLine(line []byte) (lineInfo, error) {
	v, err := decodeStrict(line)
	if err != nil {
		return lineInfo{}, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return lineInfo{}, errors.New("not a JSON object")
	}
	var li lineInfo
	li.recorded, _ = obj["hash"].(string)
	li.prev, _ = obj["prev_hash"].(string)
	li.signature, _ = obj["signature"].(string)
	li.finished, _ = obj["finished_at"].(string)
	li.typ, _ = obj["type"].(string)
	if ts, ok := obj["timestamp"].(map[string]any); ok && li.typ == TypeTimestamp {
		li.timestamp = &Timestamp{}
		li.timestamp.Hash, _ = ts["hash"].(string)
		li.timestamp.TSA, _ = ts["tsa"].(string)
		li.timestamp.Token, _ = ts["token"].(string)
		if n, ok := ts["seq"].(json.Number); ok {
			li.timestamp.Seq, _ = n.Int64()
		}
	}
	if n, ok := obj["seq"]; ok {
		num, isNum := n.(json.Number)
		seq, err := num.Int64()
		if !isNum || err != nil || seq < 1 {
			return lineInfo{}, errors.New(`"seq" is not a positive integer`)
		}
		li.seq, li.hasSeq = seq, true
	}
	if _, ok := obj["signature"]; ok && li.signature == "" {
		return lineInfo{}, errors.New(`"signature" is not a non-empty string`)
	}
	delete(obj, "hash")
	delete(obj, "signature")
	var buf bytes.Buffer
	if err := writeCanonical(&buf, obj); err != nil {
		return lineInfo{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	li.computed = hex.EncodeToString(sum[:])
	return li, nil
}

// lineHash is parseLine for callers that need only the hashes.
func lineHash(line []byte) (computed, recorded, prev string, err error) {
	li, err := parseLine(line)
	return li.computed, li.recorded, li.prev, err
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

// writeCanonical writes v, as produced by decodeValue, in the canonical encoding (RFC 8785,
// see the package documentation). It fails on a number that is not a finite IEEE 754 double.
func writeCanonical(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, t[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case string:
		writeString(buf, t)
	case json.Number:
		n, err := es6Number(string(t))
		if err != nil {
			return err
		}
		buf.WriteString(n)
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	default:
		panic(fmt.Sprintf("evidence: canonical encoding of %T", v))
	}
	return nil
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785 section 3.2.3 sorts
// member names.
func compareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// es6Number formats the JSON number s as ECMAScript's Number.prototype.toString does for
// the nearest IEEE 754 double (RFC 8785 section 3.2.2.3).
func es6Number(s string) (string, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("number %s is not a finite IEEE 754 double", s)
	}
	if f == 0 {
		return "0", nil // -0 too
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits d1d2…dk and exponent: f = 0.d1…dk × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d[.ddd]e±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k), nil
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:], nil
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits, nil
	}
	m := digits[:1]
	if k > 1 {
		m += "." + digits[1:]
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	return sign + m + "e" + es + strconv.Itoa(abs(n-1)), nil
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
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
