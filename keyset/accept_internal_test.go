package keyset

import (
	"bytes"
	"testing"
)

func TestCTEqual(t *testing.T) {
	long := bytes.Repeat([]byte("k"), 48)
	tests := []struct {
		a, b []byte
		want int
	}{
		{nil, nil, 1},
		{[]byte{}, nil, 1},
		{[]byte("a"), nil, 0},
		{[]byte("abcdefg"), []byte("abcdefg"), 1},     // shorter than a word
		{[]byte("abcdefgh"), []byte("abcdefgh"), 1},   // one word
		{[]byte("abcdefghi"), []byte("abcdefghX"), 0}, // differs in the tail
		{[]byte("Xbcdefghi"), []byte("abcdefghi"), 0}, // differs in the first word
		{long, append(bytes.Repeat([]byte("k"), 47), 'j'), 0},
		{long, bytes.Repeat([]byte("k"), 48), 1},
		{long, long[:47], 0},
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8), 0}, // high bit of a word
	}
	for _, tt := range tests {
		if got := ctEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("ctEqual(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzCTEqual checks ctEqual against bytes.Equal, flipping each bit of a copy too.
func FuzzCTEqual(f *testing.F) {
	f.Add([]byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"), []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuV"))
	f.Add([]byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		want := 0
		if bytes.Equal(a, b) {
			want = 1
		}
		if got := ctEqual(a, b); got != want {
			t.Fatalf("ctEqual(%q, %q) = %d, want %d", a, b, got, want)
		}
		c := bytes.Clone(a)
		for i := range c {
			for bit := 0; bit < 8; bit++ {
				c[i] ^= 1 << bit
				if ctEqual(a, c) != 0 {
					t.Fatalf("ctEqual ignores bit %d of byte %d", bit, i)
				}
				c[i] ^= 1 << bit
			}
		}
		if len(a) > 0 && ctEqual(a, c) != 1 {
			t.Fatal("ctEqual of a copy is not 1")
		}
	})
}
