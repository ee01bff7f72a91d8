package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/receivertest"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/keyset"
)

// The API-key kind end to end: `keyroll run` against a real Vault and the simulator, the
// API key's document read by the webhook target (certcentral.api_key_vault) as in
// production. The in-memory crash tests are in rotate/apikey_crash_test.go; these reach
// the crash points only the real stack has (a lost HTTP answer, a killed process, a
// Vault that fails a write).

const keyTarget = "digicert-api-key"

// keyWorld is a world with an api_key target whose document holds the account's API key
// (the one keyroll authenticates with, 100 days old: due) and whose webhook target reads
// its key there, and an evidence file.
type keyWorld struct {
	*world
	keyPath  string
	evidence string
	oldID    int // the account's first key, the one the document starts with
}

// newKeyWorld builds a keyWorld; block is the api_key target's api_key mapping, extra more
// YAML (top-level keys), withID whether the document records current_id, simOpts the
// simulator's options.
func newKeyWorld(t *testing.T, block, extra string, withID bool, simOpts ...certcentraltest.Option) *keyWorld {
	t.Helper()
	kw := &keyWorld{keyPath: "keyroll/cli-test/key-" + keyset.Fingerprint(t.Name())[7:]}
	kw.evidence = filepath.Join(t.TempDir(), "evidence.jsonl")
	kw.world = newWorldWith(t, fmt.Sprintf("  - {name: %s, kind: api_key, vault_path: %q, api_key: %s}\nevidence: {file: %q}\n%s",
		keyTarget, kw.keyPath, block, kw.evidence, extra), simOpts...)
	kw.oldID = kw.acct.KeyID()
	cfg, _ := os.ReadFile(kw.config)
	cfg = bytes.Replace(cfg, []byte("api_key_env: KEYROLL_TEST_API_KEY"), fmt.Appendf(nil, "api_key_vault: {path: %q, field: current}", kw.keyPath), 1)
	if err := os.WriteFile(kw.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := keyset.Document{Current: kw.apiKey, CurrentSince: time.Now().Add(-100 * 24 * time.Hour)}
	if withID {
		doc.CurrentID = strconv.Itoa(kw.oldID)
	}
	if _, err := kw.store.Write(context.Background(), kw.keyPath, doc, 0); err != nil {
		t.Fatal(err)
	}
	return kw
}

// doc reads the API key's document and its version.
func (kw *keyWorld) doc() (keyset.Document, int) {
	kw.t.Helper()
	vv, err := kw.store.Read(context.Background(), kw.keyPath)
	if err != nil {
		kw.t.Fatal(err)
	}
	return vv.Doc, vv.Version
}

// endOverlap moves the document's previous_until (and, by back, its current_since) into
// the past, as if the overlap had passed: no run waits for it.
func (kw *keyWorld) endOverlap(back time.Duration) {
	kw.t.Helper()
	d, v := kw.doc()
	if d.Previous == "" {
		kw.t.Fatal("no previous key to expire")
	}
	d.CurrentSince, d.PreviousUntil = d.CurrentSince.Add(-back), time.Now().Add(-time.Second)
	if _, err := kw.store.Write(context.Background(), kw.keyPath, d, v); err != nil {
		kw.t.Fatal(err)
	}
}

// keys describes the account's API keys, one per line, for logs and failures.
func (kw *keyWorld) keys() string {
	var b strings.Builder
	for _, k := range kw.acct.Keys() {
		used := "never"
		if !k.LastUsed.IsZero() {
			used = k.LastUsed.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "  key %d %-40q %-7s last used %s\n", k.ID, k.Name, k.Status, used)
	}
	return b.String()
}

// orphans are the active keys keyroll made that the document does not hold.
func (kw *keyWorld) orphans() []certcentraltest.Key {
	d, _ := kw.doc()
	var ids []int
	for _, s := range []string{d.CurrentID, d.PendingID, d.PreviousID} {
		if id, err := strconv.Atoi(s); err == nil {
			ids = append(ids, id)
		}
	}
	return certcentraltest.UnknownKeys(kw.acct.Keys(), "keyroll ", ids...)
}

// checkInvariant fails when the account holds an active key keyroll made that the
// document does not, or when the document's current key does not authenticate.
func (kw *keyWorld) checkInvariant() {
	kw.t.Helper()
	if o := kw.orphans(); len(o) != 0 {
		kw.t.Errorf("orphans: %+v\n%s", o, kw.keys())
	}
	d, _ := kw.doc()
	if id, _ := strconv.Atoi(d.CurrentID); !kw.keyActive(id) {
		kw.t.Errorf("the document's current key %s is not active at DigiCert\n%s", d.CurrentID, kw.keys())
	}
}

func (kw *keyWorld) keyActive(id int) bool {
	k, ok := kw.acct.Key(id)
	return ok && k.Status == certcentraltest.KeyActive
}

// apiKeyRecords are the evidence file's records of the API key's target.
func (kw *keyWorld) apiKeyRecords() []evidence.Record {
	kw.t.Helper()
	f, err := os.Open(kw.evidence)
	if err != nil {
		kw.t.Fatal(err)
	}
	defer f.Close()
	var recs []evidence.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r evidence.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			kw.t.Fatal(err)
		}
		if r.Target == keyTarget {
			recs = append(recs, r)
		}
	}
	return recs
}

// step returns the first step named name of r, and whether there is one.
func step(r evidence.Record, name string) (evidence.Step, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return evidence.Step{}, false
}

// runCtx runs keyroll in-process with ctx.
func (w *world) runCtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	args = append(args[:1:1], append([]string{"--config", w.config}, args[1:]...)...)
	err := cli.Run(ctx, args, &out, &errb)
	if err != nil {
		fmt.Fprintln(&errb, "keyroll:", err)
	}
	return cli.ExitCode(err), out.String(), errb.String()
}

// refused401 lists the requests the simulator refused for authentication.
func refused401(sim *certcentraltest.Server) []string {
	var out []string
	for _, r := range sim.Requests() {
		if r.Status == http.StatusUnauthorized {
			out = append(out, fmt.Sprintf("%s %s with %s: %s", r.Method, r.Path, r.KeyFingerprint, r.Code))
		}
	}
	return out
}

// TestAPIKeyEndToEnd is the API key's life through `keyroll run`: a document without the
// key's id is refused (exit 3, naming where to find it) and nothing is written; with
// api_key.key_id the first run adopts the id and rotates; the old key stays active
// through the overlap, and the next run after it revokes the old key and records its
// last_used_date; the evidence verifies.
func TestAPIKeyEndToEnd(t *testing.T) {
	kw := newKeyWorld(t, "{overlap: 1h}", "", false)
	_, v0 := kw.doc()
	kw.sim.ResetLog()
	code, out, errs := kw.run("run", "--target", keyTarget)
	if code != 3 || !strings.Contains(out+errs, "CertCentral → Automation → API Keys") || !strings.Contains(out+errs, "api_key.key_id") {
		t.Errorf("unknown key id: exit %d, want 3 naming CertCentral → Automation → API Keys\n%s%s", code, out, errs)
	}
	if _, v := kw.doc(); v != v0 {
		t.Errorf("the refused run wrote the document: version %d→%d", v0, v)
	}
	for _, r := range kw.sim.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("the refused run changed DigiCert: %s %s", r.Method, r.Path)
		}
	}

	// First adoption: the id from the configuration.
	cfg, _ := os.ReadFile(kw.config)
	cfg = bytes.Replace(cfg, []byte("api_key: {overlap: 1h}"), fmt.Appendf(nil, "api_key: {overlap: 1h, key_id: %d}", kw.oldID), 1)
	if err := os.WriteFile(kw.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = kw.run("run")
	t.Log("first run:\n" + out)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errs)
	}
	d, _ := kw.doc()
	newID, _ := strconv.Atoi(d.CurrentID)
	if newID == kw.oldID || d.Previous != kw.apiKey || d.PreviousID != strconv.Itoa(kw.oldID) || d.Creating != "" || d.Pending != "" {
		t.Fatalf("after the rotation: current_id %s previous_id %s creating %q pending %s", d.CurrentID, d.PreviousID, d.Creating, keyset.Fingerprint(d.Pending))
	}
	nk, _ := kw.acct.Key(newID)
	if !strings.HasPrefix(nk.Name, "keyroll "+keyTarget+" ") || nk.Status != certcentraltest.KeyActive {
		t.Errorf("the new key at DigiCert: %+v", nk)
	}
	if !kw.keyActive(kw.oldID) {
		t.Errorf("the old key was revoked inside its overlap\n%s", kw.keys())
	}
	recs := kw.apiKeyRecords()
	if len(recs) != 2 {
		t.Fatalf("%d evidence records of the API key, want the refusal and the rotation", len(recs))
	}
	rot := recs[1]
	if s, ok := step(rot, "adopt"); rot.Kind != evidence.KindAPIKey || rot.Outcome != evidence.OutcomeRotated || !ok ||
		!strings.Contains(s.Detail, strconv.Itoa(kw.oldID)) || rot.OldKeyID != kw.oldID || rot.NewKeyID != newID ||
		rot.NewFingerprint != keyset.Fingerprint(d.Current) {
		t.Errorf("the rotation's record: %+v", rot)
	}
	for _, name := range []string{"intent", "create", "stage", "authenticate", "promote"} {
		if _, ok := step(rot, name); !ok {
			t.Errorf("the rotation's record lacks the %s step", name)
		}
	}

	// Inside the overlap: a consumer with the old key still gets in; a run skips.
	old := certcentralClient(t, kw.sim.URL(), kw.apiKey)
	if _, err := old.GetKey(context.Background(), kw.oldID); err != nil {
		t.Errorf("the old key inside its overlap: %v", err)
	}
	if code, out, errs := kw.run("run", "--target", keyTarget); code != 0 || !strings.Contains(out, "skipped") || !kw.keyActive(kw.oldID) {
		t.Errorf("a run inside the overlap: exit %d, old key active %v\n%s%s", code, kw.keyActive(kw.oldID), out, errs)
	}
	lastUsed, _ := kw.acct.Key(kw.oldID)

	// After the overlap: the old key is revoked and its last use recorded.
	kw.endOverlap(0)
	code, out, errs = kw.run("run")
	t.Log("run after the overlap:\n" + out + kw.keys())
	if code != 0 || kw.keyActive(kw.oldID) {
		t.Fatalf("run after the overlap: exit %d, old key active %v\n%s%s", code, kw.keyActive(kw.oldID), out, errs)
	}
	if want := fmt.Sprintf("%s: revoke: the previous key %d ", keyTarget, kw.oldID); !strings.Contains(out, want) {
		t.Errorf("the run's summary does not say the old key was revoked (want %q):\n%s", want, out)
	}
	if d, _ := kw.doc(); d.Previous != "" || d.PreviousID != "" || d.CurrentID != strconv.Itoa(newID) {
		t.Errorf("the document after the retirement: previous %s id %q, current_id %s", keyset.Fingerprint(d.Previous), d.PreviousID, d.CurrentID)
	}
	recs = kw.apiKeyRecords()
	last := recs[len(recs)-1]
	rv, ok := step(last, "revoke")
	if want := lastUsed.LastUsed.UTC().Format(time.RFC3339); !ok || !strings.Contains(rv.Detail, strconv.Itoa(kw.oldID)) || !strings.Contains(rv.Detail, "last used "+want) {
		t.Errorf("the revoke step %+v (ok %v), want key %d last used %s", rv, ok, kw.oldID, want)
	}
	if _, err := old.GetKey(context.Background(), kw.oldID); err == nil {
		t.Error("the revoked key still authenticates")
	}
	kw.checkInvariant()
	code, vout, _ := kw.run("evidence", "verify", kw.evidence)
	if code != 0 || !strings.Contains(vout, "OK") {
		t.Errorf("evidence verify: exit %d\n%s", code, vout)
	}
	ev, _ := os.ReadFile(kw.evidence)
	if rejected := refused401(kw.sim); len(rejected) != 1 { // the old key's call after its revoke
		t.Errorf("requests refused for authentication: %q", rejected)
	}
	kw.checkNoLeak([]string{out, errs, string(ev)}, d.Current)
}

// certcentralClient is a consumer of the API key: a DigiCert client authenticated with key.
func certcentralClient(t *testing.T, url, key string) *certcentral.Client {
	t.Helper()
	c, err := certcentral.New(certcentral.Config{BaseURL: url, APIKey: key, Retry: certcentral.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lastRecord is the last evidence record of the API key's target.
func (kw *keyWorld) lastRecord() evidence.Record {
	kw.t.Helper()
	recs := kw.apiKeyRecords()
	if len(recs) == 0 {
		kw.t.Fatal("no evidence record of the API key")
	}
	return recs[len(recs)-1]
}

// checkOrphanRevoked checks that the next run revoked the orphan o before creating a key
// again, said so in its evidence, and ended on the invariant.
func (kw *keyWorld) checkOrphanRevoked(o certcentraltest.Key) {
	kw.t.Helper()
	if k, _ := kw.acct.Key(o.ID); k.Status != certcentraltest.KeyRevoked {
		kw.t.Errorf("the orphan %d is %s after the next run\n%s", o.ID, k.Status, kw.keys())
	}
	rec := kw.lastRecord()
	s, ok := step(rec, "revoke-orphan")
	if !ok || !strings.Contains(s.Detail, fmt.Sprintf("key %d %q", o.ID, o.Name)) {
		kw.t.Errorf("the next run's record lacks the orphan's revoke: %+v", rec.Steps)
	}
	names := make([]string, len(rec.Steps))
	for i, s := range rec.Steps {
		names[i] = s.Name
	}
	kw.t.Logf("the next run's steps %v; revoke-orphan: %s", names, s.Detail)
	if i, j := strings.Index(strings.Join(names, " "), "revoke-orphan"), strings.Index(strings.Join(names, " "), "create"); i < 0 || j < i {
		kw.t.Errorf("steps %v: the orphan must be revoked before the create", names)
	}
	if d, _ := kw.doc(); d.Creating != "" || d.Pending != "" || d.PreviousID != strconv.Itoa(kw.oldID) || d.CurrentID == strconv.Itoa(o.ID) {
		kw.t.Errorf("document after the next run: creating %q pending_id %q current_id %s previous_id %s", d.Creating, d.PendingID, d.CurrentID, d.PreviousID)
	}
	kw.checkInvariant()
}

// TestAPIKeyLostCreateResponse: DigiCert creates the key and its answer is lost (the
// connection closed, or a 502 from a proxy): the run fails retryable with the intent in
// Vault and an active key nobody holds; the next run revokes that orphan, then creates
// again. The invariant holds at the end, under each assumption about revoked keys.
func TestAPIKeyLostCreateResponse(t *testing.T) {
	for _, a := range keyAssumptions {
		for _, status := range []int{0, http.StatusBadGateway} {
			t.Run(fmt.Sprintf("%s/answer %d", a.name, status), func(t *testing.T) { lostCreate(t, status, a.opts) })
		}
	}
}

// lostCreate is one case of TestAPIKeyLostCreateResponse.
func lostCreate(t *testing.T, status int, simOpts []certcentraltest.Option) {
	kw := newKeyWorld(t, "{overlap: 1h}", "", true, simOpts...)
	kw.sim.LoseNextKeyCreate(status)
	code, out, errs := kw.run("run", "--target", keyTarget)
	t.Logf("run with the create's answer lost: exit %d\n%skeys:\n%s", code, out, kw.keys())
	if code != 1 {
		t.Fatalf("exit %d, want 1 (retryable)\n%s%s", code, out, errs)
	}
	d, _ := kw.doc()
	orphans := kw.orphans()
	if d.Creating == "" || len(orphans) != 1 || orphans[0].Name != d.Creating || d.CurrentID != strconv.Itoa(kw.oldID) {
		t.Fatalf("after the lost answer: creating %q, orphans %+v\n%s", d.Creating, orphans, kw.keys())
	}
	t.Logf("document: creating %q current_id %s", d.Creating, d.CurrentID)
	// A dry run prints the orphan's revoke and changes nothing.
	_, v := kw.doc()
	code, out, errs = kw.run("run", "--target", keyTarget, "--dry-run")
	t.Logf("dry run: exit %d\n%s", code, out)
	if _, v2 := kw.doc(); code != 0 || v2 != v || !kw.keyActive(orphans[0].ID) || !strings.Contains(out, fmt.Sprintf("PUT /key/%d/status revoked", orphans[0].ID)) {
		t.Errorf("dry run: exit %d, version %d→%d, orphan active %v\n%s%s", code, v, v2, kw.keyActive(orphans[0].ID), out, errs)
	}
	code, out, errs = kw.run("run", "--target", keyTarget)
	t.Logf("next run: exit %d\n%skeys:\n%s", code, out, kw.keys())
	if code != 0 {
		t.Fatalf("next run: exit %d\n%s%s", code, out, errs)
	}
	kw.checkOrphanRevoked(orphans[0])
}

// TestAPIKeyKilledBetweenIntentAndStage stops `keyroll run` after the intent is in Vault
// and before the stage: SIGKILL while DigiCert holds the created key's answer (the key
// exists, nobody holds it), and a cancelled context while the create has not reached
// DigiCert (no key). The next run takes the intent over, revokes any orphan and rotates.
func TestAPIKeyKilledBetweenIntentAndStage(t *testing.T) {
	t.Run("SIGKILL after the create", func(t *testing.T) {
		kw := newKeyWorld(t, "{overlap: 1h}", "", true)
		kw.sim.Inject(certcentraltest.Fault{Method: http.MethodPost, Path: "/key/user/*", ResponseLatency: time.Minute})
		cmd := exec.Command(keyrollBinary(t), "run", "--config", kw.config, "--target", keyTarget)
		cmd.Env = append(os.Environ(), "VAULT_TOKEN="+kw.vault.RootToken)
		var b syncbuf.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); len(kw.orphans()) == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kw.sim.ClearFaults()
		d, _ := kw.doc()
		orphans := kw.orphans()
		t.Logf("killed: creating %q\n%s", d.Creating, kw.keys())
		if d.Creating == "" || len(orphans) != 1 || orphans[0].Name != d.Creating {
			t.Fatalf("after SIGKILL: creating %q, orphans %+v\n%s", d.Creating, orphans, b.String())
		}
		code, out, errs := kw.run("run", "--target", keyTarget)
		if code != 0 {
			t.Fatalf("next run: exit %d\n%s%s", code, out, errs)
		}
		if s, ok := step(kw.lastRecord(), "intent"); !ok || !strings.Contains(s.Detail, "taken over") {
			t.Errorf("the next run did not take the intent over: %+v", s)
		}
		kw.checkOrphanRevoked(orphans[0])
		kw.checkNoLeak([]string{b.String(), out, errs})
	})
	t.Run("cancelled before the create", func(t *testing.T) {
		kw := newKeyWorld(t, "{overlap: 1h}", "", true)
		kw.sim.Inject(certcentraltest.Fault{Method: http.MethodPost, Path: "/key/user/*", Latency: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for ctx.Err() == nil {
				if vv, err := kw.store.Read(ctx, kw.keyPath); err == nil && vv.Doc.Creating != "" {
					time.Sleep(50 * time.Millisecond) // the create's request is on its way
					cancel()
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		code, out, errs := kw.runCtx(ctx, "run", "--target", keyTarget)
		cancel()
		kw.sim.ClearFaults()
		d, _ := kw.doc()
		if code != 1 || d.Creating == "" || len(kw.orphans()) != 0 || len(kw.acct.Keys()) != 1 {
			t.Fatalf("cancelled: exit %d, creating %q\n%s%s%s", code, d.Creating, kw.keys(), out, errs)
		}
		code, out, errs = kw.run("run", "--target", keyTarget)
		if code != 0 {
			t.Fatalf("next run: exit %d\n%s%s", code, out, errs)
		}
		rec := kw.lastRecord()
		if s, ok := step(rec, "intent"); !ok || !strings.Contains(s.Detail, strconv.Quote(d.Creating)) || !strings.Contains(s.Detail, "taken over") {
			t.Errorf("the next run did not take over the intent %q: %+v", d.Creating, rec.Steps)
		}
		if n := len(kw.acct.Keys()); n != 2 {
			t.Errorf("%d keys, want the old and the new\n%s", n, kw.keys())
		}
		kw.checkInvariant()
	})
}

// writeKind names a write to an API key's document by what it changes: "intent",
// "stage", "promote", "retire" or "" (another write, or not a write).
func writeKind(r *http.Request, body []byte) string {
	if r.Method == http.MethodGet || !strings.Contains(r.URL.Path, "/data/") {
		return ""
	}
	var w struct {
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(body, &w) != nil {
		return ""
	}
	str := func(k string) string { s, _ := w.Data[k].(string); return s }
	switch {
	case str("creating") != "":
		return "intent"
	case str("pending") != "":
		return "stage"
	case str("previous_id") != "" && str("previous_until") != "" && str("pending") == "" && str("rotation_id") != "" && str("previous_held_since") == "":
		return "promote"
	case str("previous") == "" && str("current_id") != "":
		return "retire"
	}
	return ""
}

// faultyVault is a proxy in front of the real Vault that loses the writes of one kind:
// either it answers 502 without passing them on (Vault unavailable), or it passes the
// first one on and answers 502 (the write applied, its answer lost), and passes the
// Vault client's retries on: they meet a check-and-set conflict with the applied write.
type faultyVault struct {
	*httptest.Server
	mu      sync.Mutex
	kind    string // the kind of write lost; "" passes everything on
	applied bool   // pass the first such write on, then answer 502
	lost    int    // writes lost so far
}

func newFaultyVault(t *testing.T, vaultAddr string) *faultyVault {
	u, _ := url.Parse(vaultAddr)
	rp := httputil.NewSingleHostReverseProxy(u)
	fv := &faultyVault{}
	fv.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		fv.mu.Lock()
		lose := fv.kind != "" && writeKind(r, b) == fv.kind && (!fv.applied || fv.lost == 0)
		apply := lose && fv.applied
		if lose {
			fv.lost++
		}
		fv.mu.Unlock()
		switch {
		case apply:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			fallthrough
		case lose:
			rw.WriteHeader(http.StatusBadGateway)
		default:
			rp.ServeHTTP(rw, r)
		}
	}))
	t.Cleanup(fv.Close)
	return fv
}

func (fv *faultyVault) set(kind string, applied bool) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.kind, fv.applied, fv.lost = kind, applied, 0
}

// TestAPIKeyVaultLosesAWrite: Vault fails the stage or the promote write, or applies it
// and its answer is lost (a 502 from a proxy, retried by the Vault client into a
// check-and-set conflict). Every case leaves the document's current key working and the
// old key active; the next run through a healthy Vault ends rotated, with no orphan.
func TestAPIKeyVaultLosesAWrite(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		applied bool
	}{{"stage", false}, {"stage", true}, {"promote", false}, {"promote", true}} {
		t.Run(fmt.Sprintf("%s applied=%v", tc.kind, tc.applied), func(t *testing.T) {
			kw := newKeyWorld(t, "{overlap: 1h}", "", true)
			fv := newFaultyVault(t, kw.vault.Addr)
			cfg, _ := os.ReadFile(kw.config)
			faulty := bytes.Replace(cfg, []byte(kw.vault.Addr), []byte(fv.URL), 1)
			if err := os.WriteFile(kw.config, faulty, 0o600); err != nil {
				t.Fatal(err)
			}
			fv.set(tc.kind, tc.applied)
			code, out, errs := kw.run("run", "--target", keyTarget)
			d, _ := kw.doc()
			t.Logf("run with the %s write lost (applied %v): exit %d, %d lost\n%s%sdocument: creating %q pending_id %q current_id %s previous_id %q\nkeys:\n%s",
				tc.kind, tc.applied, code, fv.lost, out, errs, d.Creating, d.PendingID, d.CurrentID, d.PreviousID, kw.keys())
			if fv.lost == 0 {
				t.Fatalf("no %s write went through the proxy", tc.kind)
			}
			if want := map[bool]int{false: 1, true: 0}[tc.applied]; code != want { // a landed write's retry conflicts, and the run reads again
				t.Errorf("exit %d, want %d\n%s%s", code, want, out, errs)
			}
			if id, _ := strconv.Atoi(d.CurrentID); !kw.keyActive(id) || !kw.keyActive(kw.oldID) {
				t.Errorf("the document's current key %s or the old key %d is not active\n%s", d.CurrentID, kw.oldID, kw.keys())
			}
			if len(kw.orphans()) > 1 {
				t.Errorf("more than the one key in flight unknown to the document\n%s", kw.keys())
			}

			if err := os.WriteFile(kw.config, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs = kw.run("run", "--target", keyTarget)
			d, _ = kw.doc()
			t.Logf("next run: exit %d\n%skeys:\n%s", code, out, kw.keys())
			if code != 0 || d.CurrentID == strconv.Itoa(kw.oldID) || d.PreviousID != strconv.Itoa(kw.oldID) || d.Pending != "" || d.Creating != "" {
				t.Errorf("next run: exit %d, current_id %s previous_id %s pending_id %q creating %q\n%s%s", code, d.CurrentID, d.PreviousID, d.PendingID, d.Creating, out, errs)
			}
			kw.checkInvariant()
			kw.checkNoLeak([]string{out, errs}, d.Current)
		})
	}
}

// useOldKeyAfterGrace moves the promote 10 minutes back and the overlap's end into the
// past, then has a consumer call DigiCert with the old key: a use later than the promote
// plus a grace of a minute.
func (kw *keyWorld) useOldKeyAfterGrace() {
	kw.t.Helper()
	kw.endOverlap(10 * time.Minute)
	if _, err := certcentralClient(kw.t, kw.sim.URL(), kw.apiKey).GetKey(context.Background(), kw.oldID); err != nil {
		kw.t.Fatalf("the consumer's call with the old key: %v", err)
	}
}

// TestAPIKeyStillInUse: an old key used after the promote plus grace is held (in_use:
// hold, the default): exit 3, kept active, previous_held_since written once, a hold step
// in the evidence, a needs_human notification, HELD in status; `run --revoke-in-use`
// revokes it once, saying it was still in use. With in_use: revoke the run revokes it
// anyway and says so in the evidence and in the notification of its outcome.
func TestAPIKeyStillInUse(t *testing.T) {
	t.Run("hold", func(t *testing.T) {
		rcv := receivertest.Start(t)
		kw := newKeyWorld(t, "{overlap: 1h, grace: 1m}", fmt.Sprintf("notify:\n  - {url: %q, format: json, on: [needs_human, revoked_in_use]}\n", rcv.URL), true)
		if code, out, errs := kw.run("run", "--target", keyTarget); code != 0 {
			t.Fatalf("rotation: exit %d\n%s%s", code, out, errs)
		}
		kw.useOldKeyAfterGrace()
		code, out, errs := kw.run("run", "--target", keyTarget)
		t.Logf("run with the old key in use: exit %d\n%s%s", code, out, kw.keys())
		d, _ := kw.doc()
		if code != 3 || !kw.keyActive(kw.oldID) || d.PreviousHeldSince.IsZero() || d.PreviousID != strconv.Itoa(kw.oldID) {
			t.Fatalf("exit %d, old key active %v, previous_held_since %v; want 3, active, written\n%s%s", code, kw.keyActive(kw.oldID), d.PreviousHeldSince, out, errs)
		}
		if s, ok := step(kw.lastRecord(), "hold"); !ok || !strings.Contains(s.Detail, "still in use") || !strings.Contains(s.Detail, strconv.Itoa(kw.oldID)) {
			t.Errorf("no hold step naming key %d still in use: %+v", kw.oldID, kw.lastRecord().Steps)
		}
		bodies := rcv.Bodies()
		if len(bodies) != 1 || !strings.Contains(bodies[0], `"event":"needs_human"`) || !strings.Contains(bodies[0], `"name":"hold"`) {
			t.Errorf("notifications: %q, want one needs_human with the hold", bodies)
		}
		held := d.PreviousHeldSince
		if code, _, _ := kw.run("run", "--target", keyTarget); code != 3 {
			t.Errorf("a second run on the held key: exit %d, want 3", code)
		}
		if d, _ := kw.doc(); !d.PreviousHeldSince.Equal(held) {
			t.Errorf("previous_held_since rewritten: %v → %v", held, d.PreviousHeldSince)
		}
		code, out, _ = kw.run("status", "--target", keyTarget)
		if code != 1 || !strings.Contains(out, "HELD") {
			t.Errorf("status of the held key: exit %d\n%s", code, out)
		}
		code, out, errs = kw.run("run", "--target", keyTarget, "--revoke-in-use")
		t.Logf("run --revoke-in-use: exit %d\n%s%s", code, out, kw.keys())
		if code != 0 || kw.keyActive(kw.oldID) {
			t.Fatalf("run --revoke-in-use: exit %d, old key active %v\n%s%s", code, kw.keyActive(kw.oldID), out, errs)
		}
		if s, ok := step(kw.lastRecord(), "revoke"); !ok || !strings.Contains(s.Detail, "still in use") || !strings.Contains(s.Detail, "last used") {
			t.Errorf("the revoke step does not say the key was still in use: %+v", s)
		}
		if b := rcv.Bodies(); len(b) != 3 || !strings.Contains(b[2], `"event":"revoked_in_use"`) {
			t.Errorf("notifications: %q, want needs_human twice then revoked_in_use", b)
		}
		if code, out, _ = kw.run("status", "--target", keyTarget); code != 0 || strings.Contains(out, "HELD") {
			t.Errorf("status after the revoke: exit %d\n%s", code, out)
		}
		kw.checkInvariant()
	})
	t.Run("revoke", func(t *testing.T) {
		rcv, slack := receivertest.Start(t), receivertest.Start(t)
		kw := newKeyWorld(t, "{overlap: 1h, grace: 1m, in_use: revoke}", fmt.Sprintf(
			"notify:\n  - {url: %q, format: json, on: [needs_human, failed, revoked_in_use]}\n  - {url: %q, format: slack, on: [revoked_in_use]}\n",
			rcv.URL, slack.URL), true)
		if code, out, errs := kw.run("run", "--target", keyTarget); code != 0 {
			t.Fatalf("rotation: exit %d\n%s%s", code, out, errs)
		}
		kw.useOldKeyAfterGrace()
		code, out, errs := kw.run("run", "--target", keyTarget)
		t.Logf("run with the old key in use, in_use: revoke: exit %d\n%s%s", code, out, kw.keys())
		if code != 0 || kw.keyActive(kw.oldID) {
			t.Fatalf("exit %d, old key active %v; want 0 and revoked\n%s%s", code, kw.keyActive(kw.oldID), out, errs)
		}
		s, ok := step(kw.lastRecord(), "revoke")
		if !ok || !strings.Contains(s.Detail, "still in use") {
			t.Errorf("the revoke step does not say the key was still in use: %+v", s)
		}
		if b := rcv.Bodies(); len(b) != 1 || !strings.Contains(b[0], `"event":"revoked_in_use"`) || !strings.Contains(b[0], "still in use") {
			t.Errorf("notifications: %q, want one revoked_in_use saying the key was still in use", b)
		}
		d, _ := kw.doc()
		want := fmt.Sprintf("revoked in use; current key %s; the previous key %d %s: still in use, last used", keyset.Fingerprint(d.Current), kw.oldID, keyset.Fingerprint(kw.apiKey))
		if b := slack.Bodies(); len(b) != 1 || !strings.Contains(b[0], want) {
			t.Errorf("slack: %q, want the key and its last use (%q)", b, want)
		}
		kw.checkInvariant()
	})
}

// keyFingerprints are the fingerprints of the webhook rotation's requests to DigiCert
// (every path but /key…), in order.
func webhookKeys(sim *certcentraltest.Server) []string {
	var out []string
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/webhook") {
			out = append(out, r.KeyFingerprint)
		}
	}
	return out
}

// TestAPIKeyAndWebhookConcurrently: the webhook target authenticates with the API key
// target's current; rotating both, in one run or in two runs at once, never fails the
// webhook's authentication: the old API key stays active through its overlap.
func TestAPIKeyAndWebhookConcurrently(t *testing.T) {
	t.Run("one run", func(t *testing.T) {
		kw := newKeyWorld(t, "{overlap: 1h}", "", true)
		for i := range 3 {
			code, out, errs := kw.run("run", "--force")
			t.Logf("forced run %d: exit %d\n%s", i, code, out)
			if code != 0 || strings.Count(out, "rotated") != 2 {
				t.Fatalf("run %d: exit %d, want both rotated\n%s%s", i, code, out, errs)
			}
			kw.checkInvariant()
		}
		kw.checkNothingRefused(t)
	})
	t.Run("two runs", func(t *testing.T) {
		kw := newKeyWorld(t, "{overlap: 1h}", "", true)
		cfg, _ := os.ReadFile(kw.config)
		slow := bytes.Replace(cfg, []byte("propagation_delay: 0s"), []byte("propagation_delay: 2s"), 1)
		if err := os.WriteFile(kw.config, slow, 0o600); err != nil {
			t.Fatal(err)
		}
		oldFP := keyset.Fingerprint(kw.apiKey)
		// The webhook's run reads the API key, stages its secret and waits for the
		// listeners; meanwhile another run rotates the API key; then the webhook's run
		// tests and pushes with the key it read, the old one.
		cmd := exec.Command(keyrollBinary(t), "run", "--config", kw.config, "--target", "prod-us")
		cmd.Env = append(os.Environ(), "VAULT_TOKEN="+kw.vault.RootToken)
		var b syncbuf.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(b.String(), "waiting for listeners") && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		code, out, errs := kw.run("run", "--target", keyTarget)
		if code != 0 || !strings.Contains(out, "rotated") {
			t.Fatalf("the API key's run: exit %d\n%s%s", code, out, errs)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the webhook's run, with the API key rotated under it: %v\n%s", err, b.String())
		}
		d, _ := kw.doc()
		fps := webhookKeys(kw.sim)
		if len(fps) == 0 || fps[len(fps)-1] != oldFP || d.CurrentID == strconv.Itoa(kw.oldID) {
			t.Errorf("the webhook's last request used %v, want the old key %s (the API key now %s)", fps, oldFP, d.CurrentID)
		}
		if vv, _ := kw.store.Read(context.Background(), kw.path); vv.Doc.Current != kw.acct.Webhook().Secret {
			t.Error("the webhook's document and DigiCert disagree")
		}

		// Then both at once, twice more, each forced.
		for i := range 2 {
			var cmds [2]*exec.Cmd
			var outs [2]syncbuf.Buffer
			for j, target := range []string{"prod-us", keyTarget} {
				cmds[j] = exec.Command(keyrollBinary(t), "run", "--config", kw.config, "--target", target, "--force")
				cmds[j].Env = cmd.Env
				cmds[j].Stdout, cmds[j].Stderr = &outs[j], &outs[j]
				if err := cmds[j].Start(); err != nil {
					t.Fatal(err)
				}
			}
			for j := range cmds {
				if err := cmds[j].Wait(); err != nil {
					t.Errorf("round %d, run %d: %v\n%s", i, j, err, outs[j].String())
				}
			}
			kw.checkInvariant()
		}
		kw.checkNothingRefused(t)
	})
}

// keyAssumptions are the simulator's answers to a revoke DigiCert does not document:
// re-revoking succeeds (the default), answers 400 (A9), or revoked keys vanish (A10).
var keyAssumptions = []struct {
	name string
	opts []certcentraltest.Option
}{
	{"default", nil},
	{"re-revoke 400", []certcentraltest.Option{certcentraltest.WithRerevokeError(true)}},
	{"revoked keys hidden", []certcentraltest.Option{certcentraltest.WithHideRevokedKeys(true)}},
}

// TestAPIKeyRevokeCrashPoints: after the overlap, the revoke of the old key lands and its
// answer is lost (the client's retry meets a revoked key), or Vault fails the retire
// write that follows the revoke (the next run finds the previous key revoked and leaves it
// out), under each assumption about re-revoking. Each ends with the old key revoked, the
// document without it, and the next run clean.
func TestAPIKeyRevokeCrashPoints(t *testing.T) {
	for _, a := range keyAssumptions {
		t.Run(a.name+"/revoke answer lost", func(t *testing.T) {
			kw := newKeyWorld(t, "{overlap: 1h}", "", true, a.opts...)
			if code, out, errs := kw.run("run", "--target", keyTarget); code != 0 {
				t.Fatalf("rotation: exit %d\n%s%s", code, out, errs)
			}
			kw.endOverlap(0)
			kw.sim.DropNextResponse(http.MethodPut, fmt.Sprintf("/key/%d/status", kw.oldID))
			code, out, errs := kw.run("run", "--target", keyTarget)
			t.Logf("run with the revoke's answer lost: exit %d\n%s%s", code, out, kw.keys())
			kw.checkRetired(code, out, errs)
		})
		t.Run(a.name+"/retire write lost", func(t *testing.T) {
			kw := newKeyWorld(t, "{overlap: 1h}", "", true, a.opts...)
			if code, out, errs := kw.run("run", "--target", keyTarget); code != 0 {
				t.Fatalf("rotation: exit %d\n%s%s", code, out, errs)
			}
			kw.endOverlap(0)
			fv := newFaultyVault(t, kw.vault.Addr)
			cfg, _ := os.ReadFile(kw.config)
			if err := os.WriteFile(kw.config, bytes.Replace(cfg, []byte(kw.vault.Addr), []byte(fv.URL), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			fv.set("retire", false)
			code, out, errs := kw.run("run", "--target", keyTarget)
			d, _ := kw.doc()
			t.Logf("run with the retire write lost: exit %d, previous_id %q\n%s%s", code, d.PreviousID, out, kw.keys())
			if code != 1 || fv.lost == 0 || kw.keyActive(kw.oldID) || d.PreviousID != strconv.Itoa(kw.oldID) {
				t.Fatalf("exit %d (want 1), %d writes lost, old key active %v, previous_id %q\n%s%s", code, fv.lost, kw.keyActive(kw.oldID), d.PreviousID, out, errs)
			}
			if err := os.WriteFile(kw.config, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs = kw.run("run", "--target", keyTarget)
			t.Logf("next run: exit %d\n%s", code, out)
			kw.checkRetired(code, out, errs)
		})
	}
}

// checkRetired checks a run that retired the old key: exit 0, the old key revoked, the
// document without it; then a further run changes nothing and refuses nothing.
func (kw *keyWorld) checkRetired(code int, out, errs string) {
	kw.t.Helper()
	d, v := kw.doc()
	if code != 0 || kw.keyActive(kw.oldID) || d.Previous != "" || d.PreviousID != "" {
		kw.t.Fatalf("exit %d, old key active %v, previous_id %q\n%s%s", code, kw.keyActive(kw.oldID), d.PreviousID, out, errs)
	}
	kw.checkInvariant()
	code, out, errs = kw.run("run", "--target", keyTarget)
	if _, v2 := kw.doc(); code != 0 || v2 != v || !strings.Contains(out, "skipped") {
		kw.t.Errorf("a further run: exit %d, version %d→%d\n%s%s", code, v, v2, out, errs)
	}
}

// TestAPIKeyNewKeyNotWorkingYet: DigiCert takes a moment before a new key authenticates
// (assumption A6 played with a 2s delay): the run tries again with backoff and promotes it;
// the old key is never left.
func TestAPIKeyNewKeyNotWorkingYet(t *testing.T) {
	kw := newKeyWorld(t, "{overlap: 1h}", "", true, certcentraltest.WithNewKeyDelay(2*time.Second))
	code, out, errs := kw.run("run", "--target", keyTarget)
	s, ok := step(kw.lastRecord(), "authenticate")
	t.Logf("exit %d, authenticate: %s\n%s", code, s.Detail, out)
	if code != 0 || !ok || strings.Contains(s.Detail, "attempt 1)") {
		t.Errorf("exit %d, authenticate %+v: want success after a retry\n%s%s", code, s, out, errs)
	}
	kw.checkInvariant()
}

// TestAPIKeyConcurrentRuns: four `keyroll run` processes rotate the API key at once, its
// creates slowed down. Each takes over the intent it finds, so runs may give up retryable
// (exit 1, "too many concurrent writers"); at least one finishes. Exactly one new key is
// promoted, the old key is its previous, and every other key a run created is revoked: no
// orphan.
func TestAPIKeyConcurrentRuns(t *testing.T) {
	kw := newKeyWorld(t, "{overlap: 1h}", "", true)
	// Slow creates: a run's intent is in Vault while its create is in flight, and the
	// others take the intent over and create their own keys.
	kw.sim.Inject(certcentraltest.Fault{Method: http.MethodPost, Path: "/key/user/*", Count: -1, Latency: 300 * time.Millisecond})
	bin := keyrollBinary(t)
	var wg sync.WaitGroup
	codes, outs := make([]int, 4), make([]string, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "run", "--config", kw.config, "--target", keyTarget)
			cmd.Env = append(os.Environ(), "VAULT_TOKEN="+kw.vault.RootToken)
			var b bytes.Buffer
			cmd.Stdout, cmd.Stderr = &b, &b
			err := cmd.Run()
			outs[i] = b.String()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
		}()
	}
	wg.Wait()
	t.Logf("exits %v, %d keys created\nkeys:\n%s", codes, len(kw.acct.Keys())-1, kw.keys())
	ok := 0
	for i, c := range codes {
		switch {
		case c == 0:
			ok++
		case c == 1 && strings.Contains(outs[i], "too many concurrent writers"):
			// Each run takes the others' intent over: a run that keeps losing gives up,
			// retryable, having revoked every key it created.
		default:
			t.Errorf("process %d: exit %d\n%s", i, c, outs[i])
		}
	}
	if ok == 0 {
		t.Error("no run finished the rotation")
	}
	if code, out, errs := kw.run("run", "--target", keyTarget); code != 0 || !strings.Contains(out, "skipped") {
		t.Errorf("a later run: exit %d\n%s%s", code, out, errs)
	}
	d, _ := kw.doc()
	if d.CurrentID == strconv.Itoa(kw.oldID) || d.PreviousID != strconv.Itoa(kw.oldID) || d.Pending != "" || d.Creating != "" || !kw.keyActive(kw.oldID) {
		t.Errorf("document: current_id %s previous_id %s pending_id %q creating %q; old key active %v", d.CurrentID, d.PreviousID, d.PendingID, d.Creating, kw.keyActive(kw.oldID))
	}
	active := 0
	for _, k := range kw.acct.Keys() {
		if k.Status == certcentraltest.KeyActive {
			active++
		}
	}
	if active != 2 {
		t.Errorf("%d active keys, want the old and the one promoted\n%s", active, kw.keys())
	}
	kw.checkInvariant()
	kw.checkNoLeak(outs, d.Current)
}

// checkNothingRefused fails t if DigiCert refused a request for its API key or the listener
// rejected a delivery, and logs the account's keys.
func (kw *keyWorld) checkNothingRefused(t *testing.T) {
	t.Helper()
	if r := refused401(kw.sim); len(r) != 0 {
		t.Errorf("requests refused for authentication: %q", r)
	}
	if kw.rejected != 0 {
		t.Errorf("the listener rejected %d deliveries", kw.rejected)
	}
	t.Logf("keys:\n%s", kw.keys())
}
