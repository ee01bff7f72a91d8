package certcentral_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

const (
	oldSecret = "0ldSecret-0ldSecret-0ldSecret-0ldSecret-0ldSecr"  // 48 characters
	newSecret = "NewSecretNewSecretNewSecretNewSecretNewSecret123" // 48 characters
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// seenErrors collects every error the client returned in these tests, for
// TestErrorsNeverLeakSecrets.
var seenErrors struct {
	sync.Mutex
	list []error
}

func record(err error) error {
	if err != nil {
		seenErrors.Lock()
		seenErrors.list = append(seenErrors.list, err)
		seenErrors.Unlock()
	}
	return err
}

// delivered is one request a test listener received.
type delivered struct {
	key     string
	keySent bool
	path    string
	query   string
	body    []byte
}

// listener is a TLS webhook receiver that accepts a configurable set of keys.
type listener struct {
	srv *httptest.Server
	mu  sync.Mutex
	ok  map[string]bool
	got []delivered
}

func newListener(t *testing.T) *listener {
	t.Helper()
	l := &listener{ok: map[string]bool{}}
	l.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key, sent := r.Header.Get("X-WEBHOOK-KEY"), r.Header["X-Webhook-Key"] != nil
		l.mu.Lock()
		l.got = append(l.got, delivered{key: key, keySent: sent, path: r.URL.EscapedPath(), query: r.URL.RawQuery, body: body})
		accept := l.ok[key]
		l.mu.Unlock()
		if !accept {
			http.Error(w, "unknown key", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// accept sets the keys the listener accepts; "" accepts deliveries without
// a key.
func (l *listener) accept(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ok = map[string]bool{}
	for _, k := range keys {
		l.ok[k] = true
	}
}

func (l *listener) received() []delivered {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]delivered(nil), l.got...)
}

func (l *listener) url(suffix string) string { return l.srv.URL + suffix }

func (l *listener) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(l.srv.Certificate())
	return p
}

// env is a simulator with one account whose active webhook points at a
// listener that accepts oldSecret.
type env struct {
	sim   *certcentraltest.Server
	acct  *certcentraltest.Account
	lis   *listener
	clock *certcentraltest.FakeClock
	key   string
	id    int
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

func newEnv(t *testing.T, opts ...certcentraltest.Option) *env {
	t.Helper()
	e := &env{lis: newListener(t), clock: certcentraltest.NewFakeClock(t0)}
	e.key = "apikey-" + nonWord.ReplaceAllString(t.Name(), "-") + "-5f3c9a1b7e"
	all := append([]certcentraltest.Option{
		certcentraltest.WithClock(e.clock.Now),
		certcentraltest.WithRootCAs(e.lis.pool()),
	}, opts...)
	e.sim = certcentraltest.NewServer(all...)
	t.Cleanup(e.sim.Close)
	e.acct = e.sim.AddAccount(e.key)
	e.lis.accept(oldSecret)
	e.id = e.acct.SetWebhook(certcentraltest.Webhook{
		Endpoint: e.lis.url("/hook"),
		Secret:   oldSecret,
		Events:   []string{"certificate_issued", "certificate_revoked"},
		Status:   certcentraltest.StatusActive,
	})
	return e
}

// client returns a client for the env's account with a fake clock and a
// private limiter; mods adjust the config.
func (e *env) client(t *testing.T, mods ...func(*certcentral.Config)) *certcentral.Client {
	t.Helper()
	cfg := certcentral.Config{
		BaseURL:   e.sim.URL(),
		APIKey:    e.key,
		UserAgent: "keyroll/test",
		Clock:     e.clock,
		Limiter:   certcentral.NewLimiter(certcentral.WithLimiterClock(e.clock)),
		Timeout:   5 * time.Second,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := certcentral.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// apiError asserts err is an *APIError with status and code.
func apiError(t *testing.T, err error, status int, code string) *certcentral.APIError {
	t.Helper()
	record(err)
	var ae *certcentral.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	if ae.Status != status {
		t.Errorf("status = %d, want %d (%v)", ae.Status, status, err)
	}
	if code != "" && !ae.HasCode(code) {
		t.Errorf("codes of %v do not include %q", err, code)
	}
	return ae
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		record(err)
		t.Fatalf("unexpected error: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
