package soakbug_test

import (
	"testing"

	"github.com/keyroll/keyroll/internal/soakbug"
)

// TestOffWithoutTags guards the shipped build: without the soak's build tags, no bug is in.
func TestOffWithoutTags(t *testing.T) {
	if soakbug.SkipWait || soakbug.IgnorePending || soakbug.KeepOrphans {
		t.Fatalf("an injected bug is on (SkipWait %t, IgnorePending %t, KeepOrphans %t): build without soakbug_* tags",
			soakbug.SkipWait, soakbug.IgnorePending, soakbug.KeepOrphans)
	}
}
