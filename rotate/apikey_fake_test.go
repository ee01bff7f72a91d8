package rotate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// fakeKeys is an in-memory issuer of API keys behind rotate.KeysAPI: every call but
// Authenticate is authenticated with the key a client was made with (as), which must be
// active; each use sets the key's LastUsed.
type fakeKeys struct {
	mu     sync.Mutex
	clock  *certcentraltest.FakeClock
	keys   []*fakeKey
	nextID int
	log    *opLog // the changes: create, revoke(id); nil: none logged
	// loseCreate makes the next creates happen and answer an error, as a lost response;
	// failAuth makes the next Authenticate calls refused, as a key not working yet.
	loseCreate int
	failAuth   int
	// beforeCreate, when set, runs before each create (under no lock): for interleaving.
	beforeCreate func()
}

type fakeKey struct {
	rotate.APIKey
	secret string
}

var errLostResponse = errors.New("connection reset: the response was lost")

func newFakeKeys(clock *certcentraltest.FakeClock, log *opLog) *fakeKeys {
	return &fakeKeys{clock: clock, nextID: 1000, log: log}
}

// add registers an existing key.
func (f *fakeKeys) add(id, user, role int, name, secret string, active bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	status := "active"
	if !active {
		status = "revoked"
	}
	f.keys = append(f.keys, &fakeKey{APIKey: rotate.APIKey{ID: id, UserID: user, RoleID: role, Name: name, Active: active, Status: status,
		Created: f.clock.Now().Add(-90 * 24 * time.Hour)}, secret: secret})
}

// as returns a client authenticated with key.
func (f *fakeKeys) as(key string) rotate.KeysAPI { return keysClient{f: f, key: key} }

func (f *fakeKeys) note(format string, args ...any) {
	if f.log != nil {
		f.log.add(format, args...)
	}
}

// bySecret finds an active key by its secret, marking it used; nil when none.
func (f *fakeKeys) use(secret string) *fakeKey {
	for _, k := range f.keys {
		if k.Active && keyset.Equal(k.secret, secret) {
			k.LastUsed = f.clock.Now()
			return k
		}
	}
	return nil
}

func (f *fakeKeys) byID(id int) *fakeKey {
	for _, k := range f.keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// list is every key, as the issuer describes them.
func (f *fakeKeys) list() []rotate.APIKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]rotate.APIKey, len(f.keys))
	for i, k := range f.keys {
		out[i] = k.APIKey
	}
	return out
}

// secretOf returns the key id's secret (for a test's consumer of an old key).
func (f *fakeKeys) secretOf(id int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k := f.byID(id); k != nil {
		return k.secret
	}
	return ""
}

type keysClient struct {
	f   *fakeKeys
	key string
}

var errNoKey = errors.New("404 key not found")

func (c keysClient) auth() error {
	if c.f.use(c.key) == nil {
		return fmt.Errorf("401 invalid_api_key: %w", rotate.ErrKeyRejected)
	}
	return nil
}

func (c keysClient) Key(_ context.Context, id int) (rotate.APIKey, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.auth(); err != nil {
		return rotate.APIKey{}, err
	}
	if k := c.f.byID(id); k != nil {
		return k.APIKey, nil
	}
	return rotate.APIKey{}, errNoKey
}

func (c keysClient) Keys(_ context.Context, user int) ([]rotate.APIKey, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.auth(); err != nil {
		return nil, err
	}
	var out []rotate.APIKey
	for _, k := range c.f.keys {
		if k.UserID == user {
			out = append(out, k.APIKey)
		}
	}
	return out, nil
}

func (c keysClient) CreateKey(_ context.Context, user int, name string, role int) (rotate.CreatedKey, error) {
	if c.f.beforeCreate != nil {
		c.f.beforeCreate()
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.auth(); err != nil {
		return rotate.CreatedKey{}, err
	}
	secret, _ := keyset.Generate(40)
	c.f.nextID++
	k := &fakeKey{APIKey: rotate.APIKey{ID: c.f.nextID, UserID: user, RoleID: role, Name: name, Active: true, Status: "active", Created: c.f.clock.Now()}, secret: secret}
	c.f.keys = append(c.f.keys, k)
	c.f.note("create")
	if c.f.loseCreate > 0 {
		c.f.loseCreate--
		return rotate.CreatedKey{}, errLostResponse
	}
	return rotate.CreatedKey{APIKey: k.APIKey, Key: secret}, nil
}

func (c keysClient) Revoke(_ context.Context, id int) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.auth(); err != nil {
		return err
	}
	k := c.f.byID(id)
	if k == nil {
		return errNoKey
	}
	k.Active, k.Status = false, "revoked"
	c.f.note("revoke(%d)", id)
	return nil
}

func (c keysClient) Authenticate(_ context.Context, key string, id int) (rotate.APIKey, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if c.f.failAuth > 0 {
		c.f.failAuth--
		return rotate.APIKey{}, fmt.Errorf("401 invalid_api_key: %w", rotate.ErrKeyRejected)
	}
	k := c.f.use(key)
	if k == nil {
		return rotate.APIKey{}, fmt.Errorf("401 invalid_api_key: %w", rotate.ErrKeyRejected)
	}
	if k.ID != id {
		return rotate.APIKey{}, fmt.Errorf("403 the key may not read key %d: %w", id, rotate.ErrKeyRejected)
	}
	return k.APIKey, nil
}

// The API-key target of the tests: its user and role, its keys' ids.
const (
	keyTarget = "digicert-api-key"
	keyUser   = 7
	keyRole   = 101
)

// keyFixture is one API-key target on the in-memory store and the fake issuer.
type keyFixture struct {
	t       *testing.T
	mem     *memStore
	ops     *opLog
	keys    *fakeKeys
	clock   *certcentraltest.FakeClock
	path    string
	pol     rotate.Policy
	kp      rotate.KeyPolicy
	records *recorder
	logs    *syncBuffer
	ids     atomic.Int64 // rotation ids handed out
}

// keyPolicy is the API-key target's own policy.
func keyPolicy() rotate.Policy {
	return rotate.Policy{Overlap: 24 * time.Hour, MinInterval: 30 * 24 * time.Hour, MaxAge: 90 * 24 * time.Hour}
}

// newKeyFixture starts with one active key, id 100, in the document (current_id set when
// withID) and current for 40 days: a rotation is due.
func newKeyFixture(t *testing.T, withID bool) *keyFixture {
	f := &keyFixture{t: t, mem: newMemStore(), ops: &opLog{}, clock: certcentraltest.NewFakeClock(t0), path: "keyroll/digicert/api-key",
		pol: keyPolicy(), kp: rotate.KeyPolicy{Grace: 15 * time.Minute}, records: &recorder{}, logs: &syncBuffer{}}
	f.keys = newFakeKeys(f.clock, f.ops)
	first := "INITIAL-" + strings.Repeat("k", 32)
	f.keys.add(100, keyUser, keyRole, "ops key", first, true)
	f.keys.add(99, keyUser, keyRole, "keyroll "+keyTarget+" long-revoked", "REVOKED-"+strings.Repeat("r", 32), false)
	doc := keyset.Document{Current: first, CurrentSince: t0.Add(-40 * 24 * time.Hour)}
	if withID {
		doc.CurrentID = "100"
	} else {
		f.kp.KeyID = 100
	}
	if _, err := f.mem.Write(context.Background(), f.path, doc, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *keyFixture) doc() rotate.Versioned {
	f.t.Helper()
	vv, err := f.mem.Read(context.Background(), f.path)
	if err != nil {
		f.t.Fatalf("read document: %v", err)
	}
	return vv
}

// engine is an engine on the store, the fixture's clock and recorder.
func (f *keyFixture) engine() *rotate.Engine {
	return &rotate.Engine{Store: loggingStore{KeyStore: f.mem, log: f.ops}, Recorder: f.records, Clock: f.clock, Log: zerolog.New(f.logs),
		NewID: func() string { return "r" + strconv.FormatInt(f.ids.Add(1), 10) }}
}

// target is the API-key target as the CLI builds it: its client authenticated with the
// document's current key as read when the run starts.
func (f *keyFixture) target() rotate.Target {
	pol := f.pol
	return rotate.Target{Name: keyTarget, VaultPath: f.path, Host: "www.digicert.com", Keys: f.keys.as(f.doc().Doc.Current), Key: f.kp, Policy: &pol}
}

// run runs one rotation with e (nil: f.engine()); the run's own policy is a webhook's,
// which the target's replaces.
func (f *keyFixture) run(e *rotate.Engine, o rotate.Options) rotate.Result {
	if e == nil {
		e = f.engine()
	}
	if o.Actor == "" {
		o.Actor = "test"
	}
	return e.Rotate(context.Background(), f.target(), policy(), o)
}

// checkKeys asserts the orphan invariant: every active key of the user is one the
// document holds, but at most inFlight; and the document's current key authenticates.
func (f *keyFixture) checkKeys(stage string, inFlight int) {
	f.t.Helper()
	doc := f.doc().Doc
	held := []string{doc.CurrentID, doc.PendingID, doc.PreviousID}
	var stray []string
	for _, k := range f.keys.list() {
		if k.Active && !slices.Contains(held, strconv.Itoa(k.ID)) {
			stray = append(stray, fmt.Sprintf("%d %q", k.ID, k.Name))
		}
	}
	if len(stray) > inFlight {
		f.t.Errorf("%s: active keys the document does not hold: %v (current %s, pending %s, previous %s)", stage, stray, doc.CurrentID, doc.PendingID, doc.PreviousID)
	}
	if _, err := f.keys.as(doc.Current).Key(context.Background(), atoiT(doc.CurrentID)); err != nil {
		f.t.Errorf("%s: the document's current key %s (%s) does not authenticate: %v", stage, doc.CurrentID, keyset.Fingerprint(doc.Current), err)
	}
}

// checkNoLeak asserts that no key appears in the logs, the evidence or the results.
func (f *keyFixture) checkNoLeak(results ...rotate.Result) {
	f.t.Helper()
	out := f.logs.String()
	for _, rec := range f.records.all() {
		b, _ := json.Marshal(rec)
		out += string(b)
		if err := rec.Validate(); err != nil {
			f.t.Errorf("record %s: %v", rec.RotationID, err)
		}
	}
	for _, res := range results {
		out += strings.Join(res.Plan, "\n") + fmt.Sprint(res.Err)
	}
	f.keys.mu.Lock()
	defer f.keys.mu.Unlock()
	for _, k := range f.keys.keys {
		if strings.Contains(out, k.secret) {
			f.t.Errorf("the key of %d (%s) appears in logs, evidence or results", k.ID, keyset.Fingerprint(k.secret))
		}
	}
}

func atoiT(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
