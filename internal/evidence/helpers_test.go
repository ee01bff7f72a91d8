package evidence

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 3, 0, 0, 0, time.UTC)

// sample returns a fully populated record; i varies it.
func sample(i int) Record {
	start := t0.Add(time.Duration(i) * time.Hour)
	return Record{
		RotationID: "01JNQ2Z3X4Y5W6V7U8T9S0R1Q" + string(rune('A'+i%26)),
		Target:     "prod-us",
		WebhookID:  4711,
		Trigger:    TriggerCronJob,
		Actor:      "pod/keyroll-2903-abcde; vault accessor hmac-sha256:0123",
		StartedAt:  start,
		FinishedAt: start.Add(2*time.Minute + 5*time.Second),
		Outcome:    OutcomeRotated,
		Steps: []Step{
			{Name: "stage", Time: start.Add(time.Second), Outcome: "ok", VaultVersion: 7},
			{Name: "wait", Time: start.Add(2 * time.Minute), Outcome: "ok", Detail: "propagation_delay 2m"},
			{Name: "push", Time: start.Add(2*time.Minute + time.Second), Outcome: "ok", HTTPStatus: 204},
			{Name: "promote", Time: start.Add(2*time.Minute + 4*time.Second), Outcome: "ok", VaultVersion: 8},
		},
		OldFingerprint:    "sha256:0123456789abcdef",
		NewFingerprint:    "sha256:fedcba9876543210",
		OverlapUntil:      Time(start.Add(24 * time.Hour)),
		EndpointUnchanged: Bool(true),
		EventsUnchanged:   Bool(true),
	}
}

// writeChain writes n sealed records to a new file and returns its path and lines
// (without newlines).
func writeChain(t *testing.T, n int) (string, []string) {
	t.Helper()
	return writeChainWith(t, n, Options{})
}

// writeChainWith is writeChain with a file opened with o.
func writeChainWith(t *testing.T, n int, o Options) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	f, _, err := Open(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range n {
		if _, err := f.Append(t.Context(), sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	return path, readLines(t, path)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, MaxLineSize)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// sealLine returns rec sealed onto prev with seq (0: none) as a line without its newline.
func sealLine(t *testing.T, rec Record, prev string, seq int64) string {
	t.Helper()
	line, err := seal(&rec, prev, seq, nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(line), "\n")
}

// hashOf returns the "hash" member of a line.
func hashOf(t *testing.T, line string) string {
	t.Helper()
	_, recorded, _, err := lineHash([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return recorded
}
