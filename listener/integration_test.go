package listener_test

// Integration tests against a real Vault dev server (internal/testenv): they skip
// without KEYROLL_VAULT_BIN (and fail without it when CI=true).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
	"github.com/keyroll/keyroll/listener/vaultsource"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// uniquePath is a document path of its own for one test run on the shared server.
func uniquePath(t *testing.T, name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "keyroll/listener-test/" + name + "-" + hex.EncodeToString(b)
}

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := keyset.Generate(keyset.DefaultLength)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitFor polls cond every 10ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A listener runs for weeks: its Vault login must outlive token TTLs. The approle's
// tokens live 2s and cannot be renewed past 3s, so within 7s the session must renew and
// log in again at least twice, while every refresh keeps succeeding.
func TestVerifierOutlivesTokenTTL(t *testing.T) {
	t.Parallel() // waits on real token TTLs
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := testenv.SharedVault(t)
	root := srv.Client(t)
	auth := srv.AppRole(t, "approle-listener", "keyroll-listener",
		`path "secret/data/keyroll/listener-test/*" { capabilities = ["read"] }`, "2s", "3s")

	path := uniquePath(t, "ttl")
	k1, k2 := mustKey(t), mustKey(t)
	rootStore := vault.NewStore(root, "secret")
	if _, err := rootStore.Write(ctx, path, keyset.Document{Current: k1}, 0); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	cfg := vault.Options{Address: srv.Addr, Auth: auth}
	sess, err := vault.Login(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	go sess.KeepAlive(ctx)
	v, err := listener.New(listener.Config{
		Source: vaultsource.New(vault.NewStore(sess.Client(), "secret")), Path: path, Target: "ttl",
		Refresh: 100 * time.Millisecond, MaxStaleness: time.Second, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	go v.Run(ctx)
	waitFor(t, 5*time.Second, "the first key set", func() bool { return v.Ready(ctx) == nil })

	tokens := map[string]bool{}
	start := time.Now()
	staged := false
	for time.Since(start) < 7*time.Second {
		tokens[sess.Client().Token()] = true
		if _, ok := v.Verify(k1); !ok {
			t.Fatalf("after %v: current key rejected; status %+v", time.Since(start).Round(time.Millisecond), v.Status())
		}
		// Past the first max TTL, a change must still come through.
		if !staged && time.Since(start) > 4*time.Second {
			staged = true
			if _, err := rootStore.Write(ctx, path, keyset.Document{Current: k1, Pending: k2}, 1); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Second, "the pending key", func() bool { _, ok := v.Verify(k2); return ok })
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := v.Stats()
	t.Logf("%d refreshes, %d errors, %d distinct tokens in %v", st.Refreshes, st.RefreshErrors, len(tokens), time.Since(start).Round(time.Millisecond))
	if st.RefreshErrors != 0 {
		t.Errorf("%d refreshes failed:\n%s", st.RefreshErrors, logs.String())
	}
	if st.Refreshes < 30 {
		t.Errorf("only %d refreshes in 7s at a 100ms refresh", st.Refreshes)
	}
	if len(tokens) < 3 {
		t.Errorf("the session used %d tokens in 7s; with a 3s max TTL it must have logged in again at least twice", len(tokens))
	}
	if !strings.Contains(logs.String(), "vault re-login") {
		t.Error("no re-login logged")
	}
	for tok := range tokens {
		if strings.Contains(logs.String(), tok) {
			t.Error("a Vault token appears in the logs")
		}
	}
}

// TestZeroDowntimeRotation delivers certificate_issued events from the simulator to a
// listener built from Verifier and Middleware, continuously, while rotations run through
// the real engine against the real Vault: a normal rotation, one stopped after the push
// and resumed, and two forced rotations in a row with a 1s overlap. No legitimate
// delivery may be rejected, and the replaced key must be rejected once its window ends.
func TestZeroDowntimeRotation(t *testing.T) {
	t.Parallel() // real time: about 2s
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	store := vault.NewStore(srv.Client(t), "secret")
	path := uniquePath(t, "e2e")
	logs := &syncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)

	const refresh = 50 * time.Millisecond
	v, err := listener.New(listener.Config{Source: vaultsource.New(store), Path: path, Target: "prod-us",
		Refresh: refresh, MaxStaleness: 5 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	lis := httptest.NewTLSServer(v.Middleware(listener.EventHandler(log)))
	defer lis.Close()
	sim := certcentraltest.NewServer(certcentraltest.WithDeliveryClient(lis.Client()))
	defer sim.Close()
	apiKey := "APIKEY-" + strings.Repeat("k", 24)
	acct := sim.AddAccount(apiKey)
	k0 := mustKey(t)
	acct.SetWebhook(certcentraltest.Webhook{Endpoint: lis.URL + "/hooks/digicert", Secret: k0,
		Events: []string{"certificate_issued"}, Status: certcentraltest.StatusActive})
	// The document as keyroll's first run leaves it: DigiCert's key is current.
	if _, err := store.Write(ctx, path, keyset.Document{Current: k0, CurrentSince: time.Now().Add(-2 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go v.Run(runCtx)
	waitFor(t, 5*time.Second, "the first key set", func() bool { return v.Ready(ctx) == nil })

	client, err := certcentral.New(certcentral.Config{BaseURL: sim.URL(), APIKey: apiKey, NoLimiter: true,
		Retry: certcentral.RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}

	// DigiCert delivers continuously, with whatever key it holds at each moment.
	var delivered atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, err := acct.Deliver(ctx, "certificate_issued", map[string]int{"order_id": 10000 + i, "certificate_id": 20000 + i})
			delivered.Add(1)
			if err != nil || status != http.StatusOK {
				failMu.Lock()
				failures = append(failures, fmt.Sprintf("delivery %d at %s: %d %v", i, time.Now().Format("15:04:05.000"), status, err))
				failMu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stopDeliveries := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}
	defer stopDeliveries()

	target := rotate.Target{Name: "prod-us", VaultPath: path, API: certcentral.RotateAPI{Client: client}}
	// The wait leaves a loaded machine room for a late refresh: refresh ≤ delay is the rule,
	// a read taking a few hundred milliseconds under load is the margin.
	pol := rotate.Policy{SecretLength: keyset.DefaultLength, Overlap: time.Hour, PropagationDelay: 10 * refresh,
		MinInterval: time.Hour, VerifyListener: true}
	eng := &rotate.Engine{Store: vault.RotateStore{Store: store}, Log: log}
	phase := func(name string, run func() rotate.Result, want expect) rotate.Result {
		t.Helper()
		before := delivered.Load()
		res := run()
		if (res.Err != nil) != want.fails || (!want.fails && string(res.Outcome) != want.outcome) {
			t.Fatalf("%s: outcome %s, err %v; want %s (fails %v)", name, res.Outcome, res.Err, want.outcome, want.fails)
		}
		t.Logf("%s: %s in %v, %d deliveries meanwhile", name, res.Outcome, res.Duration.Round(time.Millisecond), delivered.Load()-before)
		return res
	}

	// 1. A normal rotation.
	phase("normal rotation", func() rotate.Result { return eng.Rotate(ctx, target, pol, rotate.Options{}) }, expect{outcome: "rotated"})

	// 2. A rotation stopped right after the push (DigiCert sends the pending key, the
	// document still has it as pending), then resumed by the next run.
	errCrash := errors.New("simulated crash after push")
	crashing := &rotate.Engine{Store: vault.RotateStore{Store: store}, Log: log, AfterStep: func(_ context.Context, _ string, step rotate.StepKind) error {
		if step == rotate.StepPush {
			return errCrash
		}
		return nil
	}}
	res := phase("rotation stopped after push", func() rotate.Result {
		return crashing.Rotate(ctx, target, pol, rotate.Options{Force: true})
	}, expect{fails: true})
	if !errors.Is(res.Err, errCrash) {
		t.Fatalf("stopped rotation: %v, want the simulated crash", res.Err)
	}
	staged, err := store.Read(ctx, path)
	if err != nil || staged.Doc.Pending == "" || acct.Webhook().Secret != staged.Doc.Pending {
		t.Fatalf("after the stop, DigiCert must hold the staged key: %v", err)
	}
	n := delivered.Load()
	waitFor(t, 5*time.Second, "deliveries with the pending key", func() bool { return delivered.Load() >= n+10 })
	phase("resumed rotation", func() rotate.Result { return eng.Rotate(ctx, target, pol, rotate.Options{}) }, expect{outcome: "resumed"})

	// 3. Two forced rotations in a row with a 1s overlap.
	overlap := time.Second
	phase("forced rotation 1", func() rotate.Result {
		return eng.Rotate(ctx, target, pol, rotate.Options{Force: true, Overlap: &overlap})
	}, expect{outcome: "rotated"})
	phase("forced rotation 2", func() rotate.Result {
		return eng.Rotate(ctx, target, pol, rotate.Options{Force: true, Overlap: &overlap})
	}, expect{outcome: "rotated"})
	n = delivered.Load()
	waitFor(t, 5*time.Second, "deliveries after the last rotation", func() bool { return delivered.Load() >= n+10 })
	stopDeliveries()

	failMu.Lock()
	if len(failures) > 0 {
		t.Errorf("%d of %d deliveries were not accepted:\n%s", len(failures), delivered.Load(), strings.Join(failures, "\n"))
	}
	failMu.Unlock()
	st := v.Stats()
	var rejected uint64
	for _, c := range st.Rejected {
		rejected += c
	}
	t.Logf("%d deliveries; listener accepted current %d, pending %d, previous %d; rejected %d; %d refreshes",
		delivered.Load(), st.Accepted[keyset.RoleCurrent], st.Accepted[keyset.RolePending], st.Accepted[keyset.RolePrevious], rejected, st.Refreshes)
	if rejected != 0 {
		t.Errorf("the listener rejected %d requests: %v", rejected, st.Rejected)
	}
	if delivered.Load() < 50 {
		t.Errorf("only %d deliveries: the test did not exercise the listener", delivered.Load())
	}
	// Every key DigiCert held was delivered, and every delivery was accepted.
	keysSent := map[string]int{}
	for _, d := range sim.Deliveries() {
		keysSent[d.Key]++
		if d.Status != http.StatusOK {
			t.Errorf("simulator delivery %s with key %s answered %d", d.Event, keyset.Fingerprint(d.Key), d.Status)
		}
	}
	if len(keysSent) != 5 {
		t.Errorf("deliveries carried %d distinct keys, want 5 (the initial one and 4 rotations)", len(keysSent))
	}
	pendingEvents := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"event":"certificate_issued"`) && strings.Contains(line, `"key_role":"pending"`) {
			pendingEvents++
		}
	}
	if pendingEvents == 0 {
		t.Error("no certificate_issued event accepted with the pending key was logged")
	}

	// The key replaced by the last rotation is accepted until previous_until, then not.
	final, err := store.Read(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	doc := final.Doc
	if doc.Previous == "" || doc.Pending != "" || doc.Current != acct.Webhook().Secret {
		t.Fatalf("final document: previous set %v, pending set %v, current is DigiCert's %v",
			doc.Previous != "", doc.Pending != "", doc.Current == acct.Webhook().Secret)
	}
	waitFor(t, 2*time.Second, "the final key set", func() bool { return v.Status().Version == final.Version })
	if time.Until(doc.PreviousUntil) > 100*time.Millisecond {
		if role, ok := v.Verify(doc.Previous); !ok || role != keyset.RolePrevious {
			t.Errorf("inside the window: Verify(previous) = %v, %v", role, ok)
		}
	}
	time.Sleep(time.Until(doc.PreviousUntil) + 10*time.Millisecond)
	if role, reason := v.Check(ctx, doc.Previous); reason != listener.ReasonExpiredKey || role != keyset.RoleNone {
		t.Errorf("after the window: Check(previous) = %v, %v; want expired_key", role, reason)
	}
	if _, ok := v.Verify(doc.Current); !ok {
		t.Error("after the window: current key rejected")
	}
	for k := range keysSent {
		if k == doc.Current || k == doc.Previous {
			continue
		}
		if role, reason := v.Check(ctx, k); reason != listener.ReasonWrongKey {
			t.Errorf("an older key %s: %v, %v; want wrong_key", keyset.Fingerprint(k), role, reason)
		}
	}
	// And over HTTP, the expired key gets a bare 401.
	req, _ := http.NewRequest(http.MethodPost, lis.URL+"/hooks/digicert", strings.NewReader(`{"event":"certificate_issued"}`))
	req.Header.Set("X-WEBHOOK-KEY", doc.Previous)
	resp, err := lis.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired key over HTTP: %d, want 401", resp.StatusCode)
	}

	out := logs.String()
	for k := range keysSent {
		if strings.Contains(out, k) {
			t.Errorf("key %s appears in the logs", keyset.Fingerprint(k))
		}
	}
}

// expect is what a phase of TestZeroDowntimeRotation expects of a rotation.
type expect struct {
	outcome string
	fails   bool
}
