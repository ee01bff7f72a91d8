package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCanonicalEncoding(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string // canonical encoding, "" when the line has none
	}{
		{"sorted keys, no whitespace, hash removed",
			`{ "b" : 1, "a":"x", "hash":"ff", "prev_hash":"00" }`,
			`{"a":"x","b":1,"prev_hash":"00"}`},
		{"nested objects sorted, nested hash kept",
			`{"z":{"y":[{"b":true,"a":null}],"hash":"h"},"a":[]}`,
			`{"a":[],"z":{"hash":"h","y":[{"a":null,"b":true}]}}`},
		{"numbers as ECMAScript writes them",
			`{"n":[1.50,-0,1e3,12345678901234567890,1e21,1e-7,0.000001,-12.5e-1,333333333.33333329,1E30,4.50,2e-3,0.0000012]}`,
			`{"n":[1.5,0,1000,12345678901234567000,1e+21,1e-7,0.000001,-1.25,333333333.3333333,1e+30,4.5,0.002,0.0000012]}`},
		{"keys in UTF-16 order", `{"\ufb01":1,"\ud83d\ude00":2,"\u0080":3}`, "{\"\u0080\":3,\"\U0001F600\":2,\"\ufb01\":1}"},
		{"number out of range", `{"n":1e400}`, ""},
		{"signature removed", `{"a":1,"signature":"vault:v1:AA=="}`, `{"a":1}`},
		{"escapes resolved and re-escaped",
			`{"s":"\u0041\/\"\\\b\t\n\f\r\u0001\u001f<&>\u00e9\u2028"}`,
			"{\"s\":\"A/\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f<&>\u00e9\u2028\"}"},
		{"keys byte-ordered", `{"b":0,"B":0,"_":0,"a_b":0,"ab":0}`, `{"B":0,"_":0,"a_b":0,"ab":0,"b":0}`},
		{"duplicate key", `{"a":1,"a":1}`, ""},
		{"nested duplicate key", `{"a":{"x":1,"x":2}}`, ""},
		{"not an object", `["hash"]`, ""},
		{"trailing data", `{"a":1} {"b":2}`, ""},
		{"truncated", `{"a":1,"b":`, ""},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			computed, _, _, err := lineHash([]byte(tt.line))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("lineHash(%s) = %s, want an error", tt.line, computed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(tt.want))
			if want := hex.EncodeToString(sum[:]); computed != want {
				v, _ := decodeStrict([]byte(tt.line))
				delete(v.(map[string]any), "hash")
				var buf bytes.Buffer
				writeCanonical(&buf, v)
				t.Errorf("canonical encoding\n got %s\nwant %s", buf.Bytes(), tt.want)
			}
		})
	}
}

// TestGoldenHash pins the hash of a fixed record, so that a change to the encoding of records
// or to the canonicalisation, which would break the verification of existing files, fails here.
// The value was cross-checked with the Python recipe in the package documentation.
func TestGoldenHash(t *testing.T) {
	rec := sample(0)
	rec.Steps[1].Detail = "<wait> & \"see\" \u00e9"
	line := sealLine(t, rec, GenesisHash, 0)
	const want = "f8f33b957699a83668cd34a4ce861410b96677758fe6741c0e8a61b9ecaa336e"
	if got := hashOf(t, line); got != want {
		t.Errorf("hash = %s, want %s\nline: %s", got, want, line)
	}
}

func TestVerifyIntact(t *testing.T) {
	_, lines := writeChain(t, 4)
	reformatted := strings.NewReplacer(`,"`, `, "`, `":`, `" : `).Replace(lines[1])
	// A later version adds a field and hashes it; this version must still verify it.
	extended := strings.TrimSuffix(lines[1], "}") + `,"vault_namespace":"admin/keyroll"}`
	rehash := func(line string) string {
		computed, recorded, _, err := lineHash([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Replace(line, recorded, computed, 1)
	}
	tests := []struct {
		name  string
		lines []string
		want  int
	}{
		{"empty file", nil, 0},
		{"one record", lines[:1], 1},
		{"four records", lines, 4},
		{"whitespace and member order do not matter", []string{lines[0], reformatted, lines[2], lines[3]}, 4},
		{"unknown fields hashed in verify", []string{lines[0], rehash(extended)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(strings.NewReader(joinLines(tt.lines)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != tt.want {
				t.Errorf("Records = %d, want %d", res.Records, tt.want)
			}
			wantLast := GenesisHash
			if tt.want > 0 {
				wantLast = hashOf(t, tt.lines[tt.want-1])
			}
			if res.LastHash != wantLast {
				t.Errorf("LastHash = %s, want %s", res.LastHash, wantLast)
			}
		})
	}
	// A reader that returns one byte at a time sees the same chain.
	res, err := Verify(iotest.OneByteReader(strings.NewReader(joinLines(lines))))
	if err != nil || res.Records != 4 {
		t.Errorf("one byte reader: %+v, %v", res, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	_, lines := writeChain(t, 4)
	forged := sample(9)
	forged.Target = "attacker"
	tests := []struct {
		name       string
		content    func(l []string) string
		wantLine   int
		wantReason string
	}{
		{"edited field", func(l []string) string {
			l[1] = strings.Replace(l[1], `"target":"prod-us"`, `"target":"prod-eu"`, 1)
			return joinLines(l)
		}, 2, "record altered"},
		{"edited step", func(l []string) string {
			l[2] = strings.Replace(l[2], `"http_status":204`, `"http_status":200`, 1)
			return joinLines(l)
		}, 3, "record altered"},
		{"edited bool", func(l []string) string {
			l[3] = strings.Replace(l[3], `"endpoint_unchanged":true`, `"endpoint_unchanged":false`, 1)
			return joinLines(l)
		}, 4, "record altered"},
		{"changed hash", func(l []string) string {
			l[1] = strings.Replace(l[1], hashOf(t, l[1]), strings.Repeat("0", 64), 1)
			return joinLines(l)
		}, 2, "record altered"},
		{"edited and re-hashed", func(l []string) string {
			rec := sample(1)
			rec.Outcome = OutcomeSkipped
			l[1] = sealLine(t, rec, hashOf(t, l[0]), 2)
			return joinLines(l)
		}, 3, "prev_hash"},
		{"deleted first record", func(l []string) string { return joinLines(l[1:]) }, 1, "genesis"},
		{"deleted record", func(l []string) string { return joinLines([]string{l[0], l[2], l[3]}) }, 2, "prev_hash"},
		{"reordered records", func(l []string) string { return joinLines([]string{l[0], l[2], l[1], l[3]}) }, 2, "prev_hash"},
		{"inserted sealed record", func(l []string) string {
			return joinLines([]string{l[0], sealLine(t, forged, hashOf(t, l[0]), 2), l[1], l[2], l[3]})
		}, 3, "prev_hash"},
		{"inserted unsealed record", func(l []string) string {
			b, _ := forged.MarshalJSON()
			return joinLines([]string{l[0], string(b), l[1], l[2], l[3]})
		}, 2, `no "hash"`},
		{"truncated last record", func(l []string) string {
			s := joinLines(l)
			return s[:len(s)-len(l[3])/2]
		}, 4, "last line: record is not valid: invalid JSON"},
		{"missing final newline", func(l []string) string { return strings.TrimSuffix(joinLines(l), "\n") }, 4, "not terminated by a newline"},
		{"empty line", func(l []string) string { return joinLines([]string{l[0], l[1], "", l[2], l[3]}) }, 3, "empty line"},
		{"blank line at end", func(l []string) string { return joinLines(l) + "\n" }, 5, "empty line"},
		{"whitespace line", func(l []string) string { return joinLines([]string{l[0], "  \t"}) }, 2, "empty line"},
		{"CRLF", func(l []string) string { return strings.ReplaceAll(joinLines(l), "\n", "\r\n") }, 1, "carriage return"},
		{"duplicate key", func(l []string) string {
			l[1] = strings.Replace(l[1], `{`, `{"target":"x",`, 1)
			return joinLines(l)
		}, 2, "duplicate key"},
		{"not an object", func(l []string) string { return joinLines([]string{l[0], `[]`}) }, 2, "not a JSON object"},
		{"uppercase hash", func(l []string) string {
			h := hashOf(t, l[0])
			l[0] = strings.Replace(l[0], h, strings.ToUpper(h), 1)
			return joinLines(l)
		}, 1, "64 lowercase hex"},
		{"missing prev_hash", func(l []string) string {
			l[0] = strings.Replace(l[0], `"prev_hash":"`+GenesisHash+`",`, "", 1)
			return joinLines(l)
		}, 1, "record altered"},
		{"line too long", func(l []string) string {
			return joinLines([]string{l[0], strings.Repeat("x", MaxLineSize+1)})
		}, 2, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.content(append([]string(nil), lines...))
			res, err := Verify(strings.NewReader(content))
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %+v, %v; want a *ChainError", res, err)
			}
			if ce.Line != tt.wantLine || !strings.Contains(ce.Reason, tt.wantReason) {
				t.Errorf("ChainError = line %d: %s\nwant line %d: ...%s...", ce.Line, ce.Reason, tt.wantLine, tt.wantReason)
			}
			if res.Records != tt.wantLine-1 {
				t.Errorf("Records = %d, want %d intact before the break", res.Records, tt.wantLine-1)
			}
		})
	}
}

func TestVerifyFile(t *testing.T) {
	path, _ := writeChain(t, 3)
	res, err := VerifyFile(path)
	if err != nil || res.Records != 3 {
		t.Fatalf("VerifyFile = %+v, %v", res, err)
	}
	_, err = VerifyFile(path + ".missing")
	if err == nil || !strings.Contains(err.Error(), "evidence.jsonl.missing") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Verify(iotest.ErrReader(errors.New("disk on fire")))
	var ce *ChainError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error = %v, want a wrapped read error, not a ChainError", err)
	}
}

// FuzzVerify checks that Verify never panics and that its result is consistent: an intact
// chain counts every line, a broken one names the line after the intact records.
func FuzzVerify(f *testing.F) {
	rec := sample(0)
	l1, _ := seal(&rec, GenesisHash, 0, nil)
	rec2 := sample(1)
	l2, _ := seal(&rec2, rec.Hash, 0, nil)
	f.Add(string(l1) + string(l2))
	f.Add(string(l1) + string(l2[:40]))
	f.Add(string(l2) + string(l1))
	f.Add("")
	f.Add("\n")
	f.Add(`{"hash":"` + GenesisHash + `","prev_hash":"` + GenesisHash + `"}` + "\n")
	f.Fuzz(func(t *testing.T, content string) {
		res, err := Verify(strings.NewReader(content))
		var ce *ChainError
		switch {
		case err == nil:
			if want := strings.Count(content, "\n"); res.Records != want {
				t.Errorf("intact chain of %d records, %d lines", res.Records, want)
			}
		case errors.As(err, &ce):
			if ce.Line != res.Records+1 {
				t.Errorf("broken at line %d after %d intact records", ce.Line, res.Records)
			}
		default:
			t.Errorf("Verify of a string: %v", err)
		}
	})
}

// FuzzCanonical checks that the canonical encoding is a fixed point: canonicalising it
// again changes nothing, so its hash is the line's hash.
func FuzzCanonical(f *testing.F) {
	rec := sample(0)
	line, _ := rec.MarshalJSON()
	f.Add(string(line))
	f.Add(`{"a":"\u0000\b\f\u2028\ud800","b":[1.0,{"c":null}],"hash":"x"}`)
	f.Add(`{"é":1,"e":2,"E":3}`)
	f.Fuzz(func(t *testing.T, line string) {
		h1, _, _, err := lineHash([]byte(line))
		if err != nil {
			return
		}
		v, _ := decodeStrict([]byte(line))
		delete(v.(map[string]any), "hash")
		var c bytes.Buffer
		writeCanonical(&c, v)
		h2, _, _, err := lineHash(c.Bytes())
		if err != nil {
			t.Fatalf("canonical form %s does not decode: %v", c.Bytes(), err)
		}
		if h1 != h2 {
			t.Errorf("canonical form %s hashes to %s, the line to %s", c.Bytes(), h2, h1)
		}
	})
}
