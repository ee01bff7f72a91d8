package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tornFile writes n records and a torn tail, and returns the path, the torn bytes and the
// whole file as it is.
func tornFile(t *testing.T, n int) (string, string, []byte) {
	t.Helper()
	path, _ := writeChain(t, n)
	torn := `{"seq":` + string(rune('0'+n+1)) + `,"rotation_id":"01JN`
	if err := appendRaw(path, torn); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return path, torn, b
}

// checkNoWindow asserts what must hold after any interrupted repair: the file is either as
// it was, torn tail included (verify: broken), or repaired with a repair record naming the
// torn bytes. Never the intact records alone.
func checkNoWindow(t *testing.T, path, torn string, before []byte) {
	t.Helper()
	now, _ := os.ReadFile(path)
	res, err := VerifyFile(path)
	var ce *ChainError
	switch {
	case errors.As(err, &ce) && ce.Torn:
		if string(now) != string(before) {
			t.Errorf("the file verifies as torn but changed")
		}
	case err == nil:
		lines := strings.Split(strings.TrimSuffix(string(now), "\n"), "\n")
		var last Record
		_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
		sum := sha256.Sum256([]byte(torn))
		if last.Type != TypeRepair || last.Repair == nil || last.Repair.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("the file verifies OK (%d records) without a repair record for the cut bytes: %s", res.Records, lines[len(lines)-1])
		}
	default:
		t.Errorf("verify after an interrupted repair: %v", err)
	}
}

// TestRepairCrashPoints stops a repair at each of its steps, as a crash would, and with a
// failed write; the file never verifies OK without the repair record, and the next open
// completes the repair.
func TestRepairCrashPoints(t *testing.T) {
	points := []string{"temp created", "records copied", "record written", "synced", "renamed"}
	for _, p := range append(points, "write fails") {
		t.Run(p, func(t *testing.T) {
			path, torn, before := tornFile(t, 3)
			repairPoint = func(at string) error {
				switch {
				case at == p:
					return errCrash
				case p == "write fails" && at == "record written":
					return errors.New("write: file too large")
				}
				return nil
			}
			defer func() { repairPoint = func(string) error { return nil } }()
			if f, _, err := Open(t.Context(), path, Options{Repair: true, Actor: "a"}); err == nil {
				f.Close()
				if p != "renamed" {
					t.Fatalf("Open stopped at %q succeeded", p)
				}
			}
			checkNoWindow(t, path, torn, before)
			repairPoint = func(string) error { return nil }
			f, rep, err := Open(t.Context(), path, Options{Repair: true, Actor: "a"})
			if err != nil {
				t.Fatalf("the next open: %v", err)
			}
			f.Close()
			checkNoWindow(t, path, torn, before)
			if _, err := VerifyFile(path); err != nil {
				t.Errorf("after the next open: %v", err)
			}
			if p != "renamed" && rep == nil {
				t.Errorf("the next open did not repair")
			}
			tmps, _ := filepath.Glob(path + ".repair-*")
			if p == "write fails" && len(tmps) > 0 {
				t.Errorf("a failed write left %v", tmps)
			}
		})
	}
}

// TestRepairUnderFileSizeLimit is the reviewer's case: a repair by a process whose file size
// limit (ulimit -f 1, 1 KiB) stops the write. The process dies or fails; the file keeps its
// torn tail and still verifies as broken; a repair without the limit completes.
func TestRepairUnderFileSizeLimit(t *testing.T) {
	if os.Getenv("KEYROLL_REPAIR_FILE") != "" {
		_, _, err := Open(t.Context(), os.Getenv("KEYROLL_REPAIR_FILE"), Options{Repair: true, Actor: "limited"})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash for ulimit")
	}
	path, torn, before := tornFile(t, 3)
	if len(before) <= 1024 {
		t.Fatalf("the file is %d bytes, want over the 1 KiB limit", len(before))
	}
	cmd := exec.Command("bash", "-c", `ulimit -f 1; exec "$0" -test.run='^TestRepairUnderFileSizeLimit$' -test.count=1`, os.Args[0])
	cmd.Env = append(os.Environ(), "KEYROLL_REPAIR_FILE="+path)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the repair under ulimit -f 1 succeeded:\n%s", out)
	}
	t.Logf("repair under ulimit -f 1: %v", err)
	checkNoWindow(t, path, torn, before)
	if _, err := VerifyFile(path); err == nil {
		t.Errorf("the file verifies OK after the failed repair")
	}
	f, _, err := Open(t.Context(), path, Options{Repair: true, Actor: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkNoWindow(t, path, torn, before)
}
