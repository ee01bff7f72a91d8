package keyset_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for i := 0; i < 2000; i++ {
		k, err := keyset.Generate(48)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 48 {
			t.Fatalf("len = %d", len(k))
		}
		for _, r := range k {
			if !strings.ContainsRune(keyset.Alphabet, r) {
				t.Fatalf("character %q outside the alphabet", r)
			}
			counts[r]++
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
	}
	// 96000 draws over 62 symbols: each expected ~1548; a biased generator (byte % 62)
	// would give the first 8 symbols ~1.2x the others. Allow ±15%.
	for _, r := range keyset.Alphabet {
		if c := counts[r]; c < 1316 || c > 1780 {
			t.Errorf("symbol %q drawn %d times, want about 1548", r, c)
		}
	}
	if _, err := keyset.Generate(31); err == nil {
		t.Error("Generate(31) must fail: below DigiCert's minimum")
	}
}

func TestFingerprint(t *testing.T) {
	// sha256("abc") = ba7816bf8f01cfea...
	if got := keyset.Fingerprint("abc"); got != "sha256:ba7816bf8f01cfea" {
		t.Errorf("Fingerprint = %s", got)
	}
	if keyset.Fingerprint("") != "" {
		t.Error("empty key must have empty fingerprint")
	}
}

func TestAccepts(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	doc := keyset.Document{
		Current:       "CURRENTxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		Pending:       "PENDINGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		Previous:      "PREVIOUSxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		PreviousUntil: now.Add(time.Hour),
	}
	tests := []struct {
		name string
		doc  keyset.Document
		key  string
		at   time.Time
		want keyset.Role
	}{
		{"current", doc, doc.Current, now, keyset.RoleCurrent},
		{"pending", doc, doc.Pending, now, keyset.RolePending},
		{"previous in window", doc, doc.Previous, now, keyset.RolePrevious},
		{"previous last instant", doc, doc.Previous, now.Add(time.Hour - time.Nanosecond), keyset.RolePrevious},
		{"previous at expiry", doc, doc.Previous, now.Add(time.Hour), keyset.RoleNone},
		{"unknown", doc, "nope", now, keyset.RoleNone},
		{"prefix of current", doc, doc.Current[:10], now, keyset.RoleNone},
		{"empty key never matches empty slot", keyset.Document{Current: "c"}, "", now, keyset.RoleNone},
		{"no pending", keyset.Document{Current: "c"}, "p", now, keyset.RoleNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.doc.Accepts(tt.key, tt.at)
			if got != tt.want || ok != (tt.want != keyset.RoleNone) {
				t.Errorf("Accepts = %v, %v; want %v", got, ok, tt.want)
			}
		})
	}
	if n := len(doc.AcceptSet(now).Roles(0)); n != 3 {
		t.Errorf("AcceptSet in window has %d keys, want 3", n)
	}
	if n := len(doc.AcceptSet(now.Add(2 * time.Hour)).Roles(0)); n != 2 {
		t.Errorf("AcceptSet after window has %d keys, want 2", n)
	}
}

func TestDataRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)
	doc := keyset.Document{Current: "c", CurrentSince: now, Pending: "p", PendingSince: now.Add(time.Second),
		Previous: "o", PreviousUntil: now.Add(time.Hour), RotationID: "r1"}
	data := doc.Data()
	// Through a generic map, as Vault returns it.
	m := map[string]any{}
	for k, v := range data {
		m[k] = v
	}
	got, err := keyset.FromData(m)
	if err != nil {
		t.Fatal(err)
	}
	if got != doc {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, doc)
	}
	if _, ok := (keyset.Document{Current: "c"}).Data()[keyset.FieldPending]; ok {
		t.Error("empty pending must be left out")
	}
	for _, bad := range []map[string]any{
		{"current": 42},
		{"pending_since": "yesterday"},
	} {
		if _, err := keyset.FromData(bad); err == nil {
			t.Errorf("FromData(%v) must fail", bad)
		}
	}
	_, err = keyset.FromData(map[string]any{"current": 1, "pending": "SECRETVALUE"})
	if err == nil || strings.Contains(err.Error(), "SECRETVALUE") {
		t.Errorf("error must name the field, not a value: %v", err)
	}
}

func TestMetadataHasNoSecrets(t *testing.T) {
	doc := keyset.Document{Current: "CURRENTSECRETVALUE", Pending: "PENDINGSECRETVALUE", Previous: "PREV", RotationID: "r"}
	for k, v := range doc.Metadata() {
		if strings.Contains(v, "SECRETVALUE") || strings.Contains(v, "PREV") {
			t.Errorf("metadata %s leaks a key", k)
		}
	}
	if doc.Metadata()["state"] != "staged" {
		t.Error("state must be staged with a pending key")
	}
}

func ExampleFingerprint() {
	fmt.Println(keyset.Fingerprint("abc"))
	// Output: sha256:ba7816bf8f01cfea
}

func BenchmarkAccepts(b *testing.B) {
	k1, _ := keyset.Generate(48)
	k2, _ := keyset.Generate(48)
	k3, _ := keyset.Generate(48)
	now := time.Now()
	doc := keyset.Document{Current: k1, Pending: k2, Previous: k3, PreviousUntil: now.Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := doc.Accepts(k3, now); !ok {
			b.Fatal("not accepted")
		}
	}
}

func TestAcceptSetMatch(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	doc := keyset.Document{Current: "CURRENTxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Pending: "PENDINGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		Previous: "PREVIOUSxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", PreviousUntil: at.Add(time.Hour)}
	set := doc.AcceptSet(at)
	tests := []struct {
		name    string
		key     string
		elapsed time.Duration
		want    keyset.Match
	}{
		{"current", doc.Current, 0, keyset.Match{Role: keyset.RoleCurrent}},
		{"pending", doc.Pending, 0, keyset.Match{Role: keyset.RolePending}},
		{"previous in window", doc.Previous, time.Hour - 1, keyset.Match{Role: keyset.RolePrevious}},
		{"previous expired", doc.Previous, time.Hour, keyset.Match{Expired: true}},
		{"unknown", "nope", 0, keyset.Match{}},
		{"empty", "", 0, keyset.Match{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := set.Match([]byte(tt.key), tt.elapsed); got != tt.want {
				t.Errorf("Match = %+v, want %+v", got, tt.want)
			}
		})
	}
	if !set.Accepting(keyset.RolePrevious, 0) || set.Accepting(keyset.RolePrevious, time.Hour) {
		t.Error("Accepting(previous) must follow the window")
	}
	if (keyset.Document{Current: "c"}).AcceptSet(at).Accepting(keyset.RolePending, 0) {
		t.Error("an empty slot is never accepting")
	}
}

func TestLiveRole(t *testing.T) {
	doc := keyset.Document{Current: "cur", Pending: "pen", Previous: "old"}
	for _, tt := range []struct {
		secret string
		want   keyset.Role
	}{
		{"cur", keyset.RoleCurrent}, {"pen", keyset.RolePending}, {"old", keyset.RoleNone},
		{"", keyset.RoleNone}, {"other", keyset.RoleNone},
	} {
		if got := doc.LiveRole(tt.secret); got != tt.want {
			t.Errorf("LiveRole(%q) = %v, want %v", tt.secret, got, tt.want)
		}
	}
	if (keyset.Document{}).LiveRole("") != keyset.RoleNone {
		t.Error("an empty secret must not match empty slots")
	}
}

func TestEqual(t *testing.T) {
	if !keyset.Equal("abc", "abc") || keyset.Equal("abc", "abd") || keyset.Equal("abc", "ab") {
		t.Error("Equal is wrong")
	}
}

func ExampleDocument_AcceptSet() {
	readAt := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	doc := keyset.Document{
		Current:       strings.Repeat("c", 48),
		Previous:      strings.Repeat("p", 48),
		PreviousUntil: readAt.Add(time.Hour),
	}
	set := doc.AcceptSet(readAt)
	fmt.Println(set.Match([]byte(doc.Current), 0).Role)
	fmt.Println(set.Match([]byte(doc.Previous), 30*time.Minute).Role)
	fmt.Println(set.Match([]byte(doc.Previous), 2*time.Hour).Expired)
	fmt.Println(set.Match([]byte("guess"), 0).Role)
	// Output:
	// current
	// previous
	// true
	// none
}

// TestAPIKeyPreviousStaysUntilRevoked: an API key's previous key (it has an id) is in the
// set past its overlap, held or waiting for its revoke, so no version holding it counts as
// retired while the document still holds it; the webhook's previous expires with its window.
func TestAPIKeyPreviousStaysUntilRevoked(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	doc := keyset.Document{Current: "c", Previous: "p", PreviousUntil: now.Add(-time.Hour)}
	if out := doc.KeysOutside(doc, now); len(out) != 1 {
		t.Fatalf("webhook: %d keys outside, want the expired previous", len(out))
	}
	api := doc
	api.CurrentID, api.PreviousID = "2", "1"
	if out := api.KeysOutside(api, now); len(out) != 0 {
		t.Fatalf("api key: %d keys outside, want none while the document holds the previous key", len(out))
	}
	gone := api
	gone.Previous, gone.PreviousID, gone.PreviousUntil = "", "", time.Time{}
	if out := api.KeysOutside(gone, now); len(out) != 1 {
		t.Fatalf("api key after the retire write: %d keys outside, want the revoked previous", len(out))
	}
}
