package evidence

import (
	"strings"
	"testing"
	"time"
)

// TestVerifyAnchorHistory: the anchor's history is checked version by version: a seq going
// backwards (a rollback), a head whose hash differs from the file's record (a rewrite), a
// version created long after its record finished (a history written later), a removed
// version and a cut file are all broken.
func TestVerifyAnchorHistory(t *testing.T) {
	path, lines := writeChain(t, 5)
	good := func() []AnchorVersion {
		var h []AnchorVersion
		for i, l := range lines {
			fin := sample(i).FinishedAt
			h = append(h, AnchorVersion{Version: i + 1, Head: Head{Seq: int64(i + 1), Hash: hashOf(t, l)}, Created: fin.Add(time.Second)})
		}
		return h
	}
	for _, tc := range []struct {
		name string
		edit func([]AnchorVersion) []AnchorVersion
		want string // "" for OK
	}{
		{"good", func(h []AnchorVersion) []AnchorVersion { return h }, ""},
		{"trimmed by max_versions", func(h []AnchorVersion) []AnchorVersion { return h[2:] }, ""},
		{"rollback", func(h []AnchorVersion) []AnchorVersion {
			back := h[1]
			back.Version, back.Created = 6, h[4].Created.Add(time.Minute)
			return append(h, back)
		}, "went backwards: version 6"},
		{"rewritten record", func(h []AnchorVersion) []AnchorVersion {
			h[2].Head.Hash = strings.Repeat("e", 64)
			return h
		}, "the file was rewritten after it was anchored"},
		{"anchored late", func(h []AnchorVersion) []AnchorVersion {
			h[3].Created = h[3].Created.Add(3 * time.Hour)
			return h
		}, "anchored long after its record"},
		{"removed version", func(h []AnchorVersion) []AnchorVersion {
			h[1].Removed = true
			return h
		}, "was deleted or destroyed"},
		{"file cut", func(h []AnchorVersion) []AnchorVersion {
			return append(h, AnchorVersion{Version: 6, Head: Head{Seq: 6, Hash: strings.Repeat("f", 64)}, Created: h[4].Created})
		}, "the file ends at seq 5 but Vault's anchor is at seq 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hist := tc.edit(good())
			head := hist[len(hist)-1].Head
			res, err := VerifyFileWith(path, VerifyOptions{History: hist, Head: &head})
			if tc.want == "" {
				if err != nil || res.AnchorVersions != len(hist) {
					t.Fatalf("verify = %+v, %v; want OK over %d versions", res, err, len(hist))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify = %v, want BROKEN: %q", err, tc.want)
			}
		})
	}
}
