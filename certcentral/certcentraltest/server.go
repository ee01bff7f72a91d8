package certcentraltest

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// BasePath is the path prefix of the API, as in
// https://www.digicert.com/services/v2.
const BasePath = "/services/v2"

// firstWebhookID is the id of the first webhook a Server creates.
const firstWebhookID = 1001

// Server is a simulated CertCentral. Create one with NewServer or
// NewTLSServer (listening on 127.0.0.1), or with New and serve Handler
// yourself.
type Server struct {
	opts     options
	srv      *httptest.Server
	delivery *http.Client
	ownDeliv bool

	mu          sync.Mutex
	keys        map[string]*keyState // every API key ever made, by the key itself
	accountList []*Account           // in the order added
	nextID      int                  // webhook ids
	nextUserID  int
	nextKeyID   int
	requests    []Request
	deliveries  []Delivery
	faults      []*faultState
	latency     time.Duration
	rates       map[string]*keyRate // by key fingerprint
	stats       Stats
}

// New returns a simulator that is not listening; serve Handler with your own
// http.Server. The API is then at "http://ADDR" + BasePath.
func New(opts ...Option) *Server {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	s := &Server{
		opts:       o,
		keys:       map[string]*keyState{},
		nextID:     firstWebhookID,
		nextUserID: firstUserID,
		nextKeyID:  firstKeyID,
		latency:    o.latency,
		rates:      map[string]*keyRate{},
		stats:      newStats(),
	}
	s.delivery = o.deliveryClient
	if s.delivery == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.rootCAs != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: o.rootCAs, MinVersion: tls.VersionTLS12}
		}
		s.delivery = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		s.ownDeliv = true
	}
	return s
}

// NewServer starts a simulator on a plain HTTP listener on 127.0.0.1.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	s.srv = httptest.NewServer(s)
	return s
}

// NewTLSServer starts a simulator on an HTTPS listener on 127.0.0.1; Client
// returns an http.Client that trusts it.
func NewTLSServer(opts ...Option) *Server {
	s := New(opts...)
	s.srv = httptest.NewTLSServer(s)
	return s
}

// URL returns the base URL to give a client (listener URL + BasePath), or ""
// for a Server made by New.
func (s *Server) URL() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL + BasePath
}

// Client returns an http.Client for the listener (trusting its certificate
// for NewTLSServer), or nil for a Server made by New.
func (s *Server) Client() *http.Client {
	if s.srv == nil {
		return nil
	}
	return s.srv.Client()
}

// Certificate returns the TLS certificate of a NewTLSServer listener, else nil.
func (s *Server) Certificate() *x509.Certificate {
	if s.srv == nil {
		return nil
	}
	return s.srv.Certificate()
}

// Handler returns the simulator as an http.Handler serving BasePath.
func (s *Server) Handler() http.Handler { return s }

// Close shuts the listener down (waiting for requests in flight) and closes
// idle delivery connections.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
	if s.ownDeliv {
		s.delivery.CloseIdleConnections()
	}
}

// AddAccount adds an account with one user holding one unrestricted API key, apiKey
// (named DefaultKeyName), or returns the account apiKey already belongs to. See
// Account.AddKey and Account.AddUser for more keys and users, and Account.UserID and
// Account.KeyID for the ids of these.
func (s *Server) AddAccount(apiKey string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[apiKey]; ok {
		return k.acct
	}
	a := &Account{s: s, hideSecret: s.opts.hideSecret}
	s.addUser(a, defaultFirstName, defaultLastName)
	if _, err := s.addKey(a, NewKey{APIKey: apiKey}, time.Time{}); err != nil {
		panic(err) // the key is new and the user exists
	}
	s.accountList = append(s.accountList, a)
	return a
}

// Account returns the account apiKey belongs to (whatever the key's status), or nil.
func (s *Server) Account(apiKey string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[apiKey]; ok {
		return k.acct
	}
	return nil
}

// SetLatency delays every following request by d (real time).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

func (s *Server) now() time.Time { return s.opts.now() }

// Fingerprint returns "sha256:" and the first 16 hex digits of the SHA-256
// of v: how the simulator names API keys and secrets in its logs.
func Fingerprint(v string) string {
	if v == "" {
		return ""
	}
	h := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(h[:])[:16]
}
