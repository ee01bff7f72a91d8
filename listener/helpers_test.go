package listener_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
	"github.com/keyroll/keyroll/vault"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Keys of the tests' documents, 48 characters like minted ones.
var (
	keyCurrent  = strings.Repeat("C", 40) + "current1"
	keyPending  = strings.Repeat("P", 40) + "pending1"
	keyPrevious = strings.Repeat("O", 40) + "previous"
	keyOther    = strings.Repeat("X", 40) + "unknown1"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fullDoc has every slot set; previous is accepted until t0 + 1h.
func fullDoc() keyset.Document {
	return keyset.Document{
		Current: keyCurrent, CurrentSince: t0.Add(-time.Hour),
		Pending: keyPending, PendingSince: t0.Add(-time.Minute),
		Previous: keyPrevious, PreviousUntil: t0.Add(time.Hour),
		RotationID: "r-1",
	}
}

// fakeSource is an in-memory DocumentSource whose answers the test controls.
type fakeSource struct {
	mu      sync.Mutex
	vv      listener.Versioned
	err     error
	reads   int
	onRead  chan int // when set, receives the read count after every read (non-blocking)
	lastCtx context.Context
}

func newFakeSource(doc keyset.Document) *fakeSource {
	return &fakeSource{vv: listener.Versioned{Doc: doc, Version: 1}}
}

// set makes doc the next version of the document and clears any error.
func (f *fakeSource) set(doc keyset.Document) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vv = listener.Versioned{Doc: doc, Version: f.vv.Version + 1}
	f.err = nil
}

// fail makes every read fail with err (nil: succeed again).
func (f *fakeSource) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeSource) Read(ctx context.Context, path string) (listener.Versioned, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	f.lastCtx = ctx
	if f.onRead != nil {
		select {
		case f.onRead <- f.reads:
		default:
		}
	}
	if f.err != nil {
		return listener.Versioned{}, f.err
	}
	return f.vv, nil
}

var errVaultDown = &vault.Error{Op: "read", Path: "secret/data/test", Kind: vault.ErrUnavailable, Err: errors.New("connection refused")}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their files and a
// pool trusting the certificate.
var selfSigned = testenv.SelfSigned

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer = syncbuf.Buffer

// setup is a verifier over a fake source and a fake clock at t0, with its log captured.
type setup struct {
	v     *listener.Verifier
	src   *fakeSource
	clock *certcentraltest.FakeClock
	logs  *syncBuffer
}

func newSetup(t *testing.T, doc keyset.Document, mod func(*listener.Config)) *setup {
	t.Helper()
	s := &setup{src: newFakeSource(doc), clock: certcentraltest.NewFakeClock(t0), logs: &syncBuffer{}}
	cfg := listener.Config{
		Source: s.src, Path: "keyroll/test", Target: "prod-us",
		Refresh: 30 * time.Second, MaxStaleness: 5 * time.Minute,
		Clock: s.clock, Log: zerolog.New(s.logs).Level(zerolog.DebugLevel),
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := listener.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.v = v
	return s
}

func (s *setup) load(t *testing.T) {
	t.Helper()
	if err := s.v.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// noKeysIn fails t if any test key appears in out.
func noKeysIn(t *testing.T, what, out string) {
	t.Helper()
	for _, k := range []string{keyCurrent, keyPending, keyPrevious, keyOther} {
		if strings.Contains(out, k) {
			t.Errorf("%s contains a key (%s)", what, keyset.Fingerprint(k))
		}
	}
}
