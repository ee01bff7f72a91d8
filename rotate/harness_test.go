package rotate_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// endpoint has characters a careless client would re-encode.
const endpoint = "https://127.0.0.1:PORT/hooks/digicert?team=a&b=<c>%2Fd&é"

var settings = json.RawMessage(`{"webhook_notification_frequency": [90, 7, -7],"instant_issue_webhook_notification":"1", "webhook_send_certificate_chain": true}`)

var events = []string{"certificate_issued", "order_rejected", "certificate_revoked"}

// memStore is an in-memory KeyStore with Vault's check-and-set semantics, for the fast
// variant of the tests; the Vault variant runs the same tests against the real server.
type memStore struct {
	mu   sync.Mutex
	docs map[string][]keyset.Document
	meta map[string]map[string]string
	// deleted marks a path whose latest version is deleted (it reads as not found).
	deleted map[string]bool
}

func newMemStore() *memStore {
	return &memStore{docs: map[string][]keyset.Document{}, meta: map[string]map[string]string{}}
}

func (m *memStore) Read(_ context.Context, path string) (rotate.Versioned, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.docs[path]
	if m.deleted[path] {
		return rotate.Versioned{Version: len(vs), Meta: m.meta[path]}, fmt.Errorf("read %s: latest version deleted: %w", path, rotate.ErrNotFound)
	}
	if len(vs) == 0 {
		return rotate.Versioned{}, fmt.Errorf("read %s: %w", path, rotate.ErrNotFound)
	}
	return rotate.Versioned{Doc: vs[len(vs)-1], Version: len(vs), Meta: m.meta[path], MaxVersions: maxVersions(m.meta[path])}, nil
}

// Destroy forgets the keys of the given versions, as Vault's destroy does.
func (m *memStore) Destroy(_ context.Context, path string, versions []int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range versions {
		if v >= 1 && v <= len(m.docs[path]) {
			m.docs[path][v-1] = keyset.Document{}
		}
	}
	return nil
}

func (m *memStore) Write(_ context.Context, path string, doc keyset.Document, cas int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.docs[path]) != cas {
		return 0, fmt.Errorf("write %s: %w", path, rotate.ErrConflict)
	}
	// Round-trip through the data encoding, as Vault would.
	d, err := keyset.FromData(roundTrip(doc.Data()))
	if err != nil {
		return 0, err
	}
	m.docs[path] = append(m.docs[path], d)
	delete(m.deleted, path)
	return len(m.docs[path]), nil
}

// MaxVersions is Vault's: what WriteMetadata sets.
func (m *memStore) MaxVersions() int { return vault.MaxVersions }

func maxVersions(meta map[string]string) int {
	n, _ := strconv.Atoi(meta[vault.MetaMaxVersions])
	return n
}

func roundTrip(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func (m *memStore) WriteMetadata(_ context.Context, path string, meta map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cm := map[string]string{vault.MetaMaxVersions: fmt.Sprint(vault.MaxVersions)}
	for k, v := range meta {
		cm[k] = v
	}
	m.meta[path] = cm
	return nil
}

// backends lists the key stores every rotation test runs against.
func backends(t *testing.T) map[string]func(t *testing.T) rotate.KeyStore {
	return map[string]func(t *testing.T) rotate.KeyStore{
		"memory": func(*testing.T) rotate.KeyStore { return newMemStore() },
		"vault": func(t *testing.T) rotate.KeyStore {
			return vault.RotateStore{Store: vault.NewStore(testenv.SharedVault(t).Client(t), "secret")}
		},
	}
}

// fixture is one target wired to a key store, the simulator and a TLS listener that
// accepts exactly the accept set it reads from the store on every delivery.
type fixture struct {
	t        *testing.T
	store    rotate.KeyStore
	sim      *certcentraltest.Server
	acct     *certcentraltest.Account
	api      *certcentral.Client
	clock    *certcentraltest.FakeClock
	path     string
	endpoint string
	hookID   int
	minted   atomic.Int64
	rejected atomic.Int64
	accepted atomic.Int64
	logs     *syncBuffer
	records  *recorder
	apiKey   string
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer = syncbuf.Buffer

type recorder struct {
	mu   sync.Mutex
	recs []evidence.Record
}

func (r *recorder) Emit(_ context.Context, rec evidence.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) all() []evidence.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]evidence.Record(nil), r.recs...)
}

var pathSeq atomic.Int64

func newFixture(t *testing.T, store rotate.KeyStore, simOpts ...certcentraltest.Option) *fixture {
	t.Helper()
	f := &fixture{
		t:       t,
		store:   store,
		clock:   certcentraltest.NewFakeClock(time.Now().UTC().Truncate(time.Second)),
		path:    fmt.Sprintf("keyroll/rotate-test/%d-%x", pathSeq.Add(1), sha256.Sum256([]byte(t.Name())))[:40],
		logs:    &syncBuffer{},
		records: &recorder{},
		apiKey:  "APIKEY-" + strings.Repeat("k", 24),
	}
	lis := httptest.NewTLSServer(http.HandlerFunc(f.listen))
	t.Cleanup(lis.Close)
	f.endpoint = strings.Replace(endpoint, "127.0.0.1:PORT", strings.TrimPrefix(lis.URL, "https://"), 1)
	opts := append([]certcentraltest.Option{certcentraltest.WithDeliveryClient(lis.Client())}, simOpts...)
	f.sim = certcentraltest.NewServer(opts...)
	t.Cleanup(f.sim.Close)
	f.acct = f.sim.AddAccount(f.apiKey)
	initial, _ := keyset.Generate(40)
	f.hookID = f.acct.SetWebhook(certcentraltest.Webhook{
		Endpoint: f.endpoint, Secret: initial, Events: events,
		Status: certcentraltest.StatusActive, Settings: settings,
	})
	api, err := certcentral.New(certcentral.Config{
		BaseURL: f.sim.URL(), APIKey: f.apiKey, NoLimiter: true, Clock: f.clock,
		Retry: certcentral.RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	return f
}

// listen is the test's webhook listener: it re-reads the document on every delivery.
func (f *fixture) listen(w http.ResponseWriter, r *http.Request) {
	vv, err := f.store.Read(r.Context(), f.path)
	key := r.Header.Get("X-WEBHOOK-KEY")
	if err == nil {
		if _, ok := vv.Doc.Accepts(key, f.clock.Now()); ok {
			f.accepted.Add(1)
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	f.rejected.Add(1)
	w.WriteHeader(http.StatusUnauthorized)
}

func (f *fixture) target() rotate.Target {
	return rotate.Target{Name: "prod-us", VaultPath: f.path, WebhookID: 0, API: certcentral.RotateAPI{Client: f.api}}
}

func (f *fixture) engine() *rotate.Engine {
	return &rotate.Engine{
		Store:    f.store,
		Recorder: f.records,
		Clock:    f.clock,
		Log:      zerolog.New(f.logs),
		NewKey: func(n int) (string, error) {
			f.minted.Add(1)
			return keyset.Generate(n)
		},
	}
}

func policy() rotate.Policy {
	return rotate.Policy{SecretLength: 48, Overlap: time.Hour, PropagationDelay: 2 * time.Minute,
		MinInterval: time.Hour, VerifyListener: true}
}

func (f *fixture) rotate(ctx context.Context, o rotate.Options) rotate.Result {
	return f.engine().Rotate(ctx, f.target(), policy(), o)
}

func (f *fixture) doc() rotate.Versioned {
	f.t.Helper()
	vv, err := f.store.Read(context.Background(), f.path)
	if err != nil {
		f.t.Fatalf("read document: %v", err)
	}
	return vv
}

// checkSafe asserts the invariants that must hold after any run, finished or not.
func (f *fixture) checkSafe(stage string) {
	f.t.Helper()
	live := f.acct.Webhook()
	vv, err := f.store.Read(context.Background(), f.path)
	if err != nil {
		f.t.Fatalf("%s: read document: %v", stage, err)
	}
	if _, ok := vv.Doc.Accepts(live.Secret, f.clock.Now()); !ok {
		f.t.Errorf("%s: DigiCert's live secret %s is not in the accept set (current %s, pending %s, previous %s)", stage,
			keyset.Fingerprint(live.Secret), keyset.Fingerprint(vv.Doc.Current), keyset.Fingerprint(vv.Doc.Pending), keyset.Fingerprint(vv.Doc.Previous))
	}
	if live.Endpoint != f.endpoint {
		f.t.Errorf("%s: endpoint changed to %q", stage, live.Endpoint)
	}
	if strings.Join(live.Events, ",") != strings.Join(events, ",") {
		f.t.Errorf("%s: events changed to %v", stage, live.Events)
	}
	if string(live.Settings) != string(settings) {
		f.t.Errorf("%s: settings changed to %s", stage, live.Settings)
	}
	if live.Status != certcentraltest.StatusActive {
		f.t.Errorf("%s: webhook status %s", stage, live.Status)
	}
	if n := f.rejected.Load(); n > 0 {
		f.t.Errorf("%s: the listener rejected %d deliveries", stage, n)
	}
}

// pushedSecrets returns the distinct secrets carried by PUT /webhook requests.
func (f *fixture) pushedSecrets() map[string]int {
	out := map[string]int{}
	for _, r := range f.sim.Requests() {
		if r.Method != http.MethodPut || !strings.HasPrefix(r.Path, "/webhook/") {
			continue
		}
		var body struct {
			Secret *string `json:"secret"`
		}
		if err := json.Unmarshal(r.Body, &body); err == nil && body.Secret != nil {
			out[*body.Secret]++
		}
	}
	return out
}

// checkNoLeak asserts that no key and no API key appears in the logs or evidence.
func (f *fixture) checkNoLeak(extra ...string) {
	f.t.Helper()
	out := f.logs.String()
	for _, rec := range f.records.all() {
		b, _ := json.Marshal(rec)
		out += string(b)
	}
	secrets := append([]string{f.apiKey, f.acct.Webhook().Secret}, extra...)
	for s := range f.pushedSecrets() {
		secrets = append(secrets, s)
	}
	vv, err := f.store.Read(context.Background(), f.path)
	if err == nil {
		secrets = append(secrets, vv.Doc.Current, vv.Doc.Pending, vv.Doc.Previous)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			f.t.Errorf("a secret (%s) appears in logs or evidence", keyset.Fingerprint(s))
		}
	}
}
