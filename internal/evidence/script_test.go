package evidence

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVerifyScriptAgrees runs scripts/verify-evidence.sh (openssl and Python only) on good
// and damaged files and checks it reaches VerifyWith's verdict on the same line.
func TestVerifyScriptAgrees(t *testing.T) {
	for _, tool := range []string{"python3", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required by scripts/verify-evidence.sh: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	s, a := newKeySigner(t), &memAnchor{}
	_, lines := signedFile(t, 3, s, a)
	head := a.get()
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "key.pem")
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	other := newKeySigner(t)
	strip := regexp.MustCompile(`,"signature":"[^"]*"`)
	forged := joinLines(lines)
	for i := range lines {
		rec := sample(i)
		line, _ := seal(&rec, GenesisHash, int64(i+1), func(h string) (string, error) { return other.Sign(t.Context(), []byte(h)) })
		if i == 0 {
			forged = string(line)
		}
	}
	unsigned, _ := writeChain(t, 2)
	unsignedContent, _ := os.ReadFile(unsigned)
	tests := []struct {
		name, content string
		anchor        bool
		signedFrom    int64
	}{
		{"good", joinLines(lines), true, 0},
		{"forged", forged, false, 0},
		{"edited", joinLines([]string{lines[0], strings.Replace(lines[1], "prod-us", "prod-eu", 1), lines[2]}), false, 0},
		{"truncated", joinLines(lines[:2]), true, 0},
		{"rolled back", joinLines(lines[:1]), true, 0},
		{"torn", joinLines(lines[:2]) + lines[2][:40], false, 0},
		{"stripped", strip.ReplaceAllString(joinLines(lines), ""), false, 0},
		{"last signature stripped", joinLines(lines[:2]) + strip.ReplaceAllString(lines[2], "") + "\n", false, 0},
		{"predates signing", string(unsignedContent), false, 3},
		{"predates signing, no --signed-from", string(unsignedContent), false, 0},
		{"unicode and escapes", joinLines([]string{sealLine(t, func() Record { r := sample(0); r.Steps[0].Detail = "é \u2028 \x01 \"q\" \\ 😀"; return r }(), GenesisHash, 0)}), false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".jsonl")
			os.WriteFile(file, []byte(tt.content), 0o600)
			o := VerifyOptions{Keys: s.keys(), SignedFrom: tt.signedFrom}
			args := []string{file, pemFile}
			if tt.anchor {
				o.Head = &head
				args = append(args, "--anchor", fmt.Sprintf("%d:%s", head.Seq, head.Hash))
			}
			if tt.signedFrom > 0 {
				args = append(args, "--signed-from", fmt.Sprint(tt.signedFrom))
			}
			_, verr := VerifyFileWith(file, o)
			out, err := exec.Command("../../scripts/verify-evidence.sh", args...).CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
				t.Fatalf("script: %v\n%s", err, out)
			}
			var ce *ChainError
			switch {
			case verr == nil && err == nil && strings.HasPrefix(string(out), "OK "):
			case errors.As(verr, &ce) && err != nil && strings.Contains(string(out), fmt.Sprintf(": line %d: ", ce.Line)):
			default:
				t.Errorf("disagree:\nVerifyWith: %v\nscript: %v %s", verr, err, out)
			}
			t.Logf("%s: %s", tt.name, out)
		})
	}
}
