package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/keyset"
)

// evidenceWorld is a world whose evidence file is signed by a Transit ed25519 key and
// anchored in KV, each with a name of its own.
type evidenceWorld struct {
	*world
	file, key, anchor string
}

func newEvidenceWorld(t *testing.T) *evidenceWorld { return newEvidenceWorldKey(t, "ed25519") }

// newEvidenceWorldKey is newEvidenceWorld with a Transit key of type typ.
func newEvidenceWorldKey(t *testing.T, typ string) *evidenceWorld {
	t.Helper()
	id := keyset.Fingerprint(t.Name())[7:]
	ew := &evidenceWorld{file: filepath.Join(t.TempDir(), "evidence.jsonl"), key: "keyroll-evidence-" + id, anchor: "keyroll/evidence/" + id}
	ew.world = newWorld(t, fmt.Sprintf("evidence: {file: %q, signing: {transit_mount: transit, key: %s}, anchor: %s}\n", ew.file, ew.key, ew.anchor))
	ew.vault.TransitKey(t, "transit", ew.key, typ)
	return ew
}

// publicKey writes the Transit public key, from `keyroll evidence public-key`, to a file.
func (ew *evidenceWorld) publicKey() string {
	ew.t.Helper()
	code, out, errs := ew.run("evidence", "public-key", "--config", ew.config)
	if code != 0 || !strings.Contains(out, "-----BEGIN PUBLIC KEY-----") {
		ew.t.Fatalf("public-key: exit %d\n%s%s", code, out, errs)
	}
	pem := filepath.Join(ew.t.TempDir(), "evidence.pem")
	if err := os.WriteFile(pem, []byte(out), 0o644); err != nil {
		ew.t.Fatal(err)
	}
	return pem
}

// anchorHead reads the anchored head from Vault.
func (ew *evidenceWorld) anchorHead() (int64, string) {
	ew.t.Helper()
	sec, err := ew.vault.Client(ew.t).Logical().Read("secret/data/" + ew.anchor)
	if err != nil || sec == nil {
		ew.t.Fatalf("read anchor: %v", err)
	}
	data := sec.Data["data"].(map[string]any)
	seq, _ := data["seq"].(json.Number).Int64()
	return seq, data["hash"].(string)
}

// verifyBoth runs `keyroll evidence verify` and scripts/verify-evidence.sh on file, both
// with the public key and the anchor, and fails unless they agree on the verdict and line.
func (ew *evidenceWorld) verifyBoth(file, pem string) (code int, line string) {
	ew.t.Helper()
	code, out, errs := ew.run("evidence", "verify", file, "--public-key", pem, "--config", ew.config, "--vault")
	if code != 0 && code != 1 {
		ew.t.Fatalf("keyroll evidence verify: exit %d\n%s%s", code, out, errs)
	}
	seq, hash := ew.anchorHead()
	cmd := exec.Command("../../scripts/verify-evidence.sh", file, pem, "--anchor", fmt.Sprintf("%d:%s", seq, hash))
	var sout, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sout, &serr
	err := cmd.Run()
	scode := cmd.ProcessState.ExitCode()
	if err != nil && scode != 1 {
		ew.t.Fatalf("verify-evidence.sh: %v\n%s%s", err, sout.String(), serr.String())
	}
	lineOf := regexp.MustCompile(`^BROKEN [^:]+: line (\d+):`)
	kl, sl := lineOf.FindStringSubmatch(out), lineOf.FindStringSubmatch(sout.String())
	if scode != code || (kl == nil) != (sl == nil) || (kl != nil && kl[1] != sl[1]) {
		ew.t.Errorf("keyroll and the script disagree on %s:\nkeyroll (exit %d): %sscript  (exit %d): %s", filepath.Base(file), code, out, scode, sout.String())
	}
	ew.t.Logf("keyroll evidence verify %s:\n  %s  verify-evidence.sh: %s", filepath.Base(file), out, sout.String())
	return code, strings.TrimSpace(out)
}

// TestEvidenceSignedWithECDSA: a Transit ecdsa-p256 key signs as well as ed25519, and
// keyroll and the script both verify its records and reject an altered one.
func TestEvidenceSignedWithECDSA(t *testing.T) {
	ew := newEvidenceWorldKey(t, "ecdsa-p256")
	for i, args := range [][]string{{"run"}, {"run", "--force"}} {
		if code, out, errs := ew.run(args...); code != 0 {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, out, errs)
		}
	}
	pem := ew.publicKey()
	if code, line := ew.verifyBoth(ew.file, pem); code != 0 || !strings.HasPrefix(line, "OK ") || !strings.Contains(line, "2 signatures valid") {
		t.Fatalf("ECDSA-signed file: exit %d, %s", code, line)
	}
	good, _ := os.ReadFile(ew.file)
	forged := filepath.Join(t.TempDir(), "forged.jsonl")
	// Another ECDSA signature over the same record: same key version, wrong signer.
	other := strings.Replace(string(good), `"signature":"vault:v1:`, `"signature":"vault:v1:MEUCIQDx`, 1)
	if err := os.WriteFile(forged, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, line := ew.verifyBoth(forged, pem); code != 1 || !strings.Contains(line, "line 1: signature") {
		t.Errorf("altered ECDSA signature: exit %d, %s", code, line)
	}
}

func TestEvidenceSignedAnchoredDetectsTampering(t *testing.T) {
	ew := newEvidenceWorld(t)
	for i, args := range [][]string{{"run"}, {"run", "--force"}} {
		if code, out, errs := ew.run(args...); code != 0 {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, out, errs)
		}
	}
	twoRecords, err := os.ReadFile(ew.file)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errs := ew.run("run"); code != 0 { // skipped: a third record
		t.Fatalf("third run: exit %d\n%s%s", code, out, errs)
	}
	pem := ew.publicKey()
	good, _ := os.ReadFile(ew.file)
	lines := strings.SplitAfter(strings.TrimSuffix(string(good), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"signature":"vault:v1:`) || !strings.Contains(lines[2], `"seq":3`) {
		t.Fatalf("evidence file:\n%s", good)
	}
	ew.checkNoLeak([]string{string(good)})

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stripped := regexp.MustCompile(`,"signature":"[^"]*"`).ReplaceAllString(string(good), "")
	tests := []struct {
		name, file string
		wantLine   int
		want       string
	}{
		{"good", write("good.jsonl", string(good)), 0, "3 signatures valid (key versions 1), end matches Vault's anchor (seq 3)"},
		{"forged", ew.forge(filepath.Join(dir, "forged.jsonl"), lines), 1, "does not verify with the public key"},
		{"edited", write("edited.jsonl", lines[0]+strings.Replace(lines[1], `"outcome":"rotated"`, `"outcome":"skipped"`, 1)+lines[2]), 2, "record altered"},
		{"truncated", write("truncated.jsonl", lines[0]+lines[1]), 3, "ends at seq 2 but Vault's anchor is at seq 3"},
		{"rolled-back", write("rolled-back.jsonl", string(twoRecords)), 3, "an older copy of the file was put back"},
		{"stripped", write("stripped.jsonl", stripped), 1, "not signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := ew.verifyBoth(tt.file, pem)
			if tt.wantLine == 0 {
				if code != 0 || !strings.HasPrefix(out, "OK ") || !strings.Contains(out, tt.want) {
					t.Errorf("verify good file: exit %d %s", code, out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, fmt.Sprintf("line %d: ", tt.wantLine)) || !strings.Contains(out, tt.want) {
				t.Errorf("verify %s: exit %d %s\nwant exit 1, line %d: ...%s...", tt.name, code, out, tt.wantLine, tt.want)
			}
		})
	}
	// Without a key or Vault, verify checks the chain and says so; a stripped file
	// then passes as unsigned, which is why auditors give --public-key.
	code, out, _ := ew.run("evidence", "verify", write("chain-only.jsonl", stripped))
	if code != 0 || !strings.Contains(out, "unsigned: chain only") {
		t.Errorf("chain-only verify: exit %d %s", code, out)
	}
	// A rolled-back file stops the next rotation: it needs a human (exit 3).
	if err := os.WriteFile(ew.file, twoRecords, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := ew.run("run", "--force")
	if code != 3 || !strings.Contains(errs, "anchor is at seq 3") {
		t.Errorf("run on a rolled-back file: exit %d, want 3\n%s", code, errs)
	}
}

// forge rebuilds lines as a chain with correct hashes but signed with a key of its own,
// as someone without access to Transit would.
func (ew *evidenceWorld) forge(path string, lines []string) string {
	ew.t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	f, _, err := evidence.Open(context.Background(), path, evidence.Options{Signer: forger(priv)})
	if err != nil {
		ew.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		var rec evidence.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			ew.t.Fatal(err)
		}
		rec.Actor = "forger"
		if _, err := f.Append(context.Background(), rec); err != nil {
			ew.t.Fatal(err)
		}
	}
	return path
}

type forger ed25519.PrivateKey

func (k forger) Sign(_ context.Context, msg []byte) (string, error) {
	return "vault:v1:" + base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.PrivateKey(k), msg)), nil
}

func TestEvidenceTornTailRepairedByRun(t *testing.T) {
	ew := newEvidenceWorld(t)
	if code, out, errs := ew.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	torn := `{"seq":2,"rotation_id":"0193`
	f, err := os.OpenFile(ew.file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn)
	f.Close()
	code, out, errs := ew.run("run", "--force")
	if code != 0 || !strings.Contains(errs, "moved it aside") {
		t.Fatalf("run after a torn tail: exit %d, want 0\n%s%s", code, out, errs)
	}
	moved, _ := filepath.Glob(ew.file + ".torn-*")
	if len(moved) != 1 {
		t.Fatalf("torn files: %v", moved)
	}
	if b, _ := os.ReadFile(moved[0]); string(b) != torn {
		t.Errorf("moved aside %q, want %q", b, torn)
	}
	b, _ := os.ReadFile(ew.file)
	recs := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(recs) != 3 || !strings.Contains(recs[1], `"type":"repair"`) || !strings.Contains(recs[1], fmt.Sprintf(`"bytes":%d`, len(torn))) {
		t.Fatalf("after repair:\n%s", b)
	}
	if code, _ := ew.verifyBoth(ew.file, ew.publicKey()); code != 0 {
		t.Error("repaired file does not verify")
	}
	// `keyroll evidence repair` does the same by hand; on an intact file it does nothing.
	os.WriteFile(ew.file, append(b, "{\"seq\":4"...), 0o600)
	if code, _, errs := ew.run("evidence", "repair", ew.file, "--config", ew.config); code != 0 {
		t.Fatalf("evidence repair: exit %d\n%s", code, errs)
	}
	if code, _, errs := ew.run("evidence", "repair", ew.file, "--config", ew.config); code != 0 || strings.Contains(errs, "moved it aside") {
		t.Errorf("evidence repair of an intact file: exit %d\n%s", code, errs)
	}
	if code, _ := ew.verifyBoth(ew.file, ew.publicKey()); code != 0 {
		t.Error("file repaired by hand does not verify")
	}
	// A broken record in the middle needs a human (exit 3), and nothing changes.
	b, _ = os.ReadFile(ew.file)
	broken := strings.Replace(string(b), `"outcome":"rotated"`, `"outcome":"failed"`, 1)
	os.WriteFile(ew.file, []byte(broken), 0o600)
	code, _, errs = ew.run("run", "--force")
	if after, _ := os.ReadFile(ew.file); code != 3 || string(after) != broken || !strings.Contains(errs, "restore a good copy") {
		t.Errorf("run on a broken file: exit %d, want 3\n%s", code, errs)
	}
}

func TestEvidenceAnchorFailureIsRetryable(t *testing.T) {
	ew := newEvidenceWorld(t)
	if code, out, errs := ew.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	// A token that may read the anchor but not write it.
	ew.vault.Policy(t, "no-anchor-"+ew.key, fmt.Sprintf(`
path "secret/*" { capabilities = ["create", "read", "update", "list"] }
path "transit/sign/%s" { capabilities = ["update"] }
path "secret/data/%s" { capabilities = ["read"] }
`, ew.key, ew.anchor))
	t.Setenv("VAULT_TOKEN", ew.vault.Token(t, 0, "no-anchor-"+ew.key))
	before, _ := ew.store.Read(context.Background(), ew.path)
	code, out, errs := ew.run("run", "--force")
	after, _ := ew.store.Read(context.Background(), ew.path)
	if code != 1 || !strings.Contains(errs, "not anchored") || after.Doc.Current == before.Doc.Current {
		t.Fatalf("run with an unwritable anchor: exit %d, want 1 with the rotation done\n%s%s", code, out, errs)
	}
	b, _ := os.ReadFile(ew.file)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("%d records, want the second one kept", n)
	}
	code, out, _ = ew.run("evidence", "verify", ew.file, "--config", ew.config, "--vault")
	if code != 1 || !strings.Contains(out, "line 2: 1 record(s) after Vault's anchored head (seq 1)") {
		t.Errorf("verify with the anchor behind: exit %d %s", code, out)
	}
	// With the anchor writable again, the next run anchors both.
	t.Setenv("VAULT_TOKEN", ew.vault.RootToken)
	if code, out, errs := ew.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	if seq, _ := ew.anchorHead(); seq != 3 {
		t.Errorf("anchor at seq %d, want 3", seq)
	}
}

// TestEvidenceVaultRequestsPerRecord measures, from Vault's audit log, the requests that
// signing and anchoring add: per record one Transit sign and one check-and-set write of the
// anchor, plus one read of the anchor per run.
func TestEvidenceVaultRequestsPerRecord(t *testing.T) {
	ew := newEvidenceWorld(t)
	audit := ew.vault.AuditLog(t, "evidence-"+ew.key)
	const runs = 3
	for i := range runs {
		if code, out, errs := ew.run("run", "--force"); code != 0 {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, out, errs)
		}
	}
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Type    string `json:"type"`
			Request struct {
				Path      string `json:"path"`
				Operation string `json:"operation"`
			} `json:"request"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Type != "request" {
			continue
		}
		switch e.Request.Path {
		case "transit/sign/" + ew.key, "secret/data/" + ew.anchor, "transit/keys/" + ew.key:
			counts[e.Request.Operation+" "+e.Request.Path]++
		case "secret/data/" + ew.path, "secret/metadata/" + ew.path:
			counts[e.Request.Operation+" (rotation) "+e.Request.Path]++
		}
	}
	t.Logf("Vault requests in %d runs (%d records), from the audit log:", runs, runs)
	keys := slices.Sorted(maps.Keys(counts))
	for _, k := range keys {
		t.Logf("  %2d  %s", counts[k], k)
	}
	sign, read := counts["update transit/sign/"+ew.key], counts["read secret/data/"+ew.anchor]
	write := counts["create secret/data/"+ew.anchor] + counts["update secret/data/"+ew.anchor] // create: the first write
	if sign != runs || write != runs || read != runs {
		t.Errorf("per %d records: %d signs, %d anchor writes, %d anchor reads; want one sign and one write per record, one read per run", runs, sign, write, read)
	}
}
