package evidence

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// EnvJCS names the node_modules directory holding the npm package canonicalize, an
// independent RFC 8785 implementation; scripts/test.sh sets it (scripts/jcs-dir.sh).
const EnvJCS = "KEYROLL_JCS_NODE_PATH"

// TestCanonicalEncodingMatchesIndependentJCS compares the canonical encoding of random
// JSON values, and of real records, with the npm package canonicalize run by Node.js, so
// that the package documentation's claim "this is RFC 8785" stays true.
func TestCanonicalEncodingMatchesIndependentJCS(t *testing.T) {
	nodePath := os.Getenv(EnvJCS)
	if nodePath == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must cross-check the canonical encoding (use scripts/test.sh)", EnvJCS)
		}
		t.Skipf("%s not set: run scripts/test.sh for the JCS cross-check", EnvJCS)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for range 500 {
		b, _ := json.Marshal(randomJSON(rng, 0))
		inputs = append(inputs, "{\"v\":"+string(b)+"}")
	}
	inputs = append(inputs,
		`{"n":[1.50,-0,1e3,12345678901234567890,1e21,1e-7,0.000001,-12.5e-1,333333333.33333329,1E30,4.50,2e-3,0.0000012,5e-324,1.7976931348623157e308]}`,
		`{"\ufb01":1,"\ud83d\ude00":2,"\u0080":3,"a\u0000":4,"":5}`,
		`{"s":"\u0041\/\"\\\b\t\n\f\r\u0001\u001f\u007f<&>\u00e9\u2028\ud83d\ude00"}`)
	for i := range 5 {
		line := sealLine(t, sample(i), GenesisHash, int64(i+1))
		inputs = append(inputs, line[:strings.LastIndex(line, `,"hash"`)]+"}")
	}
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(inputs, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
const canonicalize = require("canonicalize");
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(l => l !== "");
for (const l of lines) process.stdout.write(JSON.stringify(canonicalize(JSON.parse(l))) + "\n");`
	cmd := exec.Command("node", "-e", script, in)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node canonicalize: %v\n%s", err, stderr.String())
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(want) != len(inputs) {
		t.Fatalf("node gave %d lines for %d inputs", len(want), len(inputs))
	}
	for i, line := range inputs {
		var w string
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		v, err := decodeStrict([]byte(line))
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		var got bytes.Buffer
		if err := writeCanonical(&got, v); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		if got.String() != w {
			t.Errorf("input %d: %s\n keyroll %s\n    JCS %s", i, line, got.String(), w)
		}
	}
}

// randomJSON returns a random JSON value: nested objects and arrays, strings with ASCII,
// control, BMP and astral characters, and numbers of every magnitude.
func randomJSON(rng *rand.Rand, depth int) any {
	k := rng.IntN(7)
	if depth > 3 {
		k = rng.IntN(4)
	}
	switch k {
	case 0:
		return randomString(rng)
	case 1:
		switch rng.IntN(4) {
		case 0:
			return rng.Int64N(1<<53) - 1<<52
		case 1:
			return json.Number(strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(60)-30)), 'g', -1, 64))
		case 2:
			return math.Float64frombits(rng.Uint64()&^(0x7ff<<52) | uint64(rng.IntN(0x7fe)+1)<<52)
		}
		return rng.IntN(100)
	case 2:
		return rng.IntN(2) == 0
	case 3:
		return nil
	case 4, 5:
		m := map[string]any{}
		for range rng.IntN(6) {
			m[randomString(rng)] = randomJSON(rng, depth+1)
		}
		return m
	}
	var a []any
	for range rng.IntN(5) {
		a = append(a, randomJSON(rng, depth+1))
	}
	return a
}

func randomString(rng *rand.Rand) string {
	alphabet := []rune("aZ_0 \"\\/\b\t\n\f\r\x00\x01\x1f\x7f\u00e9\u2028\u20ac\ufb01\uffff\U0001f600\U00010000<>&")
	var b strings.Builder
	for range rng.IntN(8) {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}
