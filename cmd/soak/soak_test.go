package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

func TestAccepts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := keyset.Document{Current: "C", Pending: "P", Previous: "O", PreviousUntil: t0.Add(time.Second)}
	tests := []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"C", t0, true},
		{"P", t0, true},
		{"O", t0, true},
		{"O", t0.Add(time.Second), false},
		{"X", t0, false},
		{"", t0, false},
	}
	for _, tt := range tests {
		if got := accepts(doc, tt.key, tt.at); got != tt.want {
			t.Errorf("accepts(%q at +%s) = %t, want %t", tt.key, tt.at.Sub(t0), got, tt.want)
		}
	}
	if accepts(keyset.Document{Current: "C"}, "", t0) {
		t.Error("an empty key matched an empty pending slot")
	}
}

func TestOutageWithin(t *testing.T) {
	t0 := time.Now()
	v := &vaultServer{outages: []window{
		{from: t0.Add(1 * time.Second), to: t0.Add(2 * time.Second)},
		{from: t0.Add(5 * time.Second)}, // still going
	}}
	tests := []struct {
		from, to time.Duration
		want     bool
	}{
		{0, 500 * time.Millisecond, false},
		{0, time.Second, true},
		{1500 * time.Millisecond, 1600 * time.Millisecond, true},
		{2100 * time.Millisecond, 4 * time.Second, false},
		{4 * time.Second, 6 * time.Second, true},
		{10 * time.Second, 11 * time.Second, true},
	}
	for _, tt := range tests {
		if got := v.outageWithin(t0.Add(tt.from), t0.Add(tt.to)); got != tt.want {
			t.Errorf("outageWithin(+%s, +%s) = %t, want %t", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestEventLogKeepsTheLast(t *testing.T) {
	var out strings.Builder
	l := newEventLog(3, time.Now(), &out)
	for i := range 5 {
		l.add("event %d", i)
	}
	got := l.last()
	if len(got) != 3 || !strings.HasSuffix(got[0], "event 2") || !strings.HasSuffix(got[2], "event 4") {
		t.Fatalf("last() = %q, want events 2 to 4", got)
	}
	if n := strings.Count(out.String(), "\n"); n != 5 {
		t.Errorf("the log file has %d lines, want 5", n)
	}
}

func TestJSONField(t *testing.T) {
	line := `{"evidence":true,"prev_hash":"aaa","hash":"bbb","outcome":"rotated"}`
	if got := jsonField(line, "hash"); got != "bbb" {
		t.Errorf(`jsonField(hash) = %q, want "bbb"`, got)
	}
	if got := jsonField(line, "missing"); got != "" {
		t.Errorf("jsonField(missing) = %q, want empty", got)
	}
}

func TestPickFollowsWeights(t *testing.T) {
	counts := map[string]int{}
	rng := newRand(7)
	for range 10000 {
		counts[pick(rng, []weighted{{"a", 1}, {"b", 3}})]++
	}
	if a := counts["a"]; a < 2000 || a > 3000 {
		t.Errorf("weight 1 of 4 drawn %d times in 10000: %v", a, fmt.Sprint(counts))
	}
}

func TestRunsBesideAnotherNeverForceTheAPIKey(t *testing.T) {
	h := &harness{s: defaultSettings(), dir: "/tmp/x"}
	rng := newRand(3)
	for range 200 {
		for _, first := range []bool{true, false} {
			args, api := h.secondRun(rng, first)
			joined := strings.Join(args, " ")
			forced := strings.Contains(joined, "--force")
			switch {
			case first && api:
				t.Fatalf("beside a run forcing the API key, the second run rotates it too: %s", joined)
			case api && forced:
				t.Fatalf("a second run forces the API key: %s", joined)
			case !api && !strings.Contains(joined, "--target soak "):
				t.Fatalf("a forced second run is not the webhook's alone: %s", joined)
			}
		}
	}
}
