package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
)

// digicert is the CertCentral simulator, in this process so that the soak knows at every
// instant which secret DigiCert holds. It records every change of the webhook's secret.
type digicert struct {
	sim    *certcentraltest.Server
	acct   *certcentraltest.Account
	apiKey string
	id     int
	url    string // the API base URL keyroll is configured with
	srv    *http.Server
	events *eventLog

	changed chan struct{} // signalled when the secret changes

	keys keyTrace // the API keys: refusals, revocations, lost creates, the crash hook
	// onRefused is called for every answer 401 or 403 (request, status, key fingerprint).
	onRefused func(req string, status int, fp string)

	mu       sync.Mutex
	inflight map[*http.Request]time.Time
	held     []heldKey // every secret DigiCert held, in order
}

// heldKey is a secret DigiCert held from (at the latest) from until to (zero: holds it now).
type heldKey struct {
	key      string
	fp       string
	from, to time.Time
}

// startDigicert starts the simulator; contact says whether PUT /webhook contacts the
// endpoint with the new secret before applying it (DigiCert's documentation leaves it open).
func startDigicert(endpoint string, contact bool, events *eventLog) (*digicert, error) {
	mode := certcentraltest.ContactNever
	if contact {
		mode = certcentraltest.ContactAlways
	}
	d := &digicert{
		sim: certcentraltest.New(certcentraltest.AllowHTTPEndpoints(), certcentraltest.WithDeliveryTimeout(5*time.Second),
			certcentraltest.WithUpdateContact(mode)),
		events:   events,
		changed:  make(chan struct{}, 1),
		inflight: map[*http.Request]time.Time{},
	}
	k, err := keyset.Generate(32)
	if err != nil {
		return nil, err
	}
	d.apiKey = "soak-" + k
	d.acct = d.sim.AddAccount(d.apiKey)
	secret, err := keyset.Generate(48)
	if err != nil {
		return nil, err
	}
	d.id = d.acct.AddWebhook(certcentraltest.Webhook{Endpoint: endpoint, Secret: secret,
		Events: []string{"certificate_issued", "order_rejected"}, Status: certcentraltest.StatusActive})
	d.held = []heldKey{{key: secret, fp: keyset.Fingerprint(secret), from: time.Now()}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d.url = "http://" + ln.Addr().String() + certcentraltest.BasePath
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

// ServeHTTP passes requests to the simulator and notes when a request changed the secret:
// the change is dated at the start of the earliest request in flight, so that the record
// never says DigiCert got a key later than it did.
func (d *digicert) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.serveTraced(w, r, d.serve)
}

func (d *digicert) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		d.sim.ServeHTTP(w, r)
		return
	}
	d.mu.Lock()
	d.inflight[r] = time.Now()
	d.mu.Unlock()
	defer d.noteChange(r) // also after a dropped response, which aborts the handler
	d.sim.ServeHTTP(w, r)
}

func (d *digicert) noteChange(r *http.Request) {
	secret := d.acct.Webhook().Secret
	d.mu.Lock()
	defer d.mu.Unlock()
	from := d.inflight[r]
	for _, t := range d.inflight {
		if t.Before(from) {
			from = t
		}
	}
	delete(d.inflight, r)
	last := &d.held[len(d.held)-1]
	if same(secret, last.key) {
		return
	}
	last.to = from
	d.held = append(d.held, heldKey{key: secret, fp: keyset.Fingerprint(secret), from: from})
	d.events.add("digicert: secret is now %s (was %s)", keyset.Fingerprint(secret), d.held[len(d.held)-2].fp)
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// secret is the secret DigiCert holds now.
func (d *digicert) secret() string { return d.acct.Webhook().Secret }

// history returns the secrets DigiCert held, in order.
func (d *digicert) history() []heldKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]heldKey(nil), d.held...)
}

// changes is how many times DigiCert's secret changed.
func (d *digicert) changes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held) - 1
}

// same compares two keys in constant time.
func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (d *digicert) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = d.srv.Close()
	}
	d.sim.Close()
}
