package keyset_test

import (
	"testing"

	"github.com/keyroll/keyroll/keyset"
)

// BenchmarkGenerate mints one 48-character key from crypto/rand (rejection sampling).
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keyset.Generate(keyset.DefaultLength); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFingerprint is the sha256: name logs and evidence use for a key.
func BenchmarkFingerprint(b *testing.B) {
	k, _ := keyset.Generate(keyset.DefaultLength)
	b.ReportAllocs()
	for b.Loop() {
		_ = keyset.Fingerprint(k)
	}
}
