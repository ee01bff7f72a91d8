package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

// deliveryStats counts the deliveries the soak sent to the replicas.
type deliveryStats struct {
	sent        atomic.Int64 // every delivery that reached a replica
	accepted    atomic.Int64
	rejected    atomic.Int64 // a key DigiCert held (or holds within its overlap) answered anything but 2xx, or 503 outside a Vault outage
	outage503   atomic.Int64 // 503 from a replica failing closed while Vault was down or sealed
	slow503     atomic.Int64 // … while Vault was unresponsive (not an injected fault)
	unreachable atomic.Int64 // the replica was being restarted
	retries     atomic.Int64 // deliveries with an older key, within its overlap
	late        atomic.Int64 // 401 to a delivery whose key's overlap ended before the answer came
}

const deliveryBody = `{"event":"certificate_issued","data":{"order_id":12345,"certificate_id":23456}}`

// deliver sends DigiCert's deliveries until ctx ends: every tick, one to each ready
// replica with the secret DigiCert holds at that instant, and sometimes a retry of an
// older delivery with a key replaced less than the overlap ago. A change of DigiCert's
// secret triggers a round at once, as DigiCert starts using a key the moment it has it.
func (h *harness) deliver(ctx context.Context, rng *rand.Rand, kick <-chan struct{}) {
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	tick := time.NewTicker(h.s.deliveryEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-kick:
		}
		key := h.dc.secret()
		at := time.Now()
		for _, r := range h.replicas {
			if r.isReady() {
				h.send(ctx, client, r, key, "held", at)
			}
		}
		if rng.Float64() < 0.3 {
			if old, ok := h.olderKey(rng, at); ok {
				if r := h.replicas[rng.IntN(len(h.replicas))]; r.isReady() {
					h.ds.retries.Add(1)
					h.send(ctx, client, r, old, "retry", at)
				}
			}
		}
	}
}

// olderKey picks a key DigiCert replaced less than the overlap ago (with a margin).
func (h *harness) olderKey(rng *rand.Rand, now time.Time) (string, bool) {
	var keys []string
	for _, k := range h.dc.history() {
		if !k.to.IsZero() && now.Before(k.to.Add(h.s.overlap-h.s.retryMargin)) {
			keys = append(keys, k.key)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	return keys[rng.IntN(len(keys))], true
}

// overlapEnded reports whether DigiCert replaced key at least the overlap before t.
func (h *harness) overlapEnded(key string, t time.Time) bool {
	for _, k := range h.dc.history() {
		if same(k.key, key) {
			return !k.to.IsZero() && !t.Before(k.to.Add(h.s.overlap))
		}
	}
	return false
}

// send delivers one event with key to r and classifies the answer.
func (h *harness) send(ctx context.Context, c *http.Client, r *replica, key, kind string, at time.Time) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/webhook", bytes.NewReader([]byte(deliveryBody)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-WEBHOOK-KEY", key)
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			h.ds.unreachable.Add(1)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h.ds.sent.Add(1)
	switch {
	case resp.StatusCode/100 == 2:
		h.ds.accepted.Add(1)
	case resp.StatusCode == http.StatusServiceUnavailable && h.vault.outageWithin(at.Add(-h.s.maxStaleness-h.s.staleSlack), time.Now()):
		h.ds.outage503.Add(1)
	case resp.StatusCode == http.StatusServiceUnavailable && h.vault.outOrSlowWithin(at.Add(-h.s.maxStaleness-h.s.staleSlack), time.Now()):
		h.ds.slow503.Add(1)
	case resp.StatusCode == http.StatusUnauthorized && h.overlapEnded(key, time.Now()):
		// Sent within the key's overlap, but it ended before the replica answered (a slow
		// machine): the replica may rightly have found it expired.
		h.ds.late.Add(1)
	default:
		h.ds.rejected.Add(1)
		what := "a delivery with the key DigiCert held"
		if kind == "retry" {
			what = "a retried delivery with a key replaced less than the overlap ago"
		}
		h.violation(1, fmt.Sprintf("%s answered %d to %s (%s)", r.name, resp.StatusCode, what, keyset.Fingerprint(key)))
	}
}

// front is the webhook's endpoint at DigiCert: it passes each delivery (DigiCert's test
// events during a rotation) to one ready replica, as a load balancer would.
type front struct {
	h   *harness
	url string
	srv *http.Server
	mu  sync.Mutex
	rng *rand.Rand
}

func startFront(h *harness, rng *rand.Rand) (*front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &front{h: h, url: "http://" + ln.Addr().String() + "/webhook", rng: rng}
	client := &http.Client{Timeout: 5 * time.Second}
	f.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r := f.pick()
		if r == nil {
			http.Error(w, "no ready replica", http.StatusServiceUnavailable)
			return
		}
		out, _ := http.NewRequestWithContext(req.Context(), http.MethodPost, r.url+"/webhook", bytes.NewReader(body))
		out.Header = req.Header.Clone()
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, "replica unreachable", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *front) pick() *replica {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ready []*replica
	for _, r := range f.h.replicas {
		if r.isReady() {
			ready = append(ready, r)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	return ready[f.rng.IntN(len(ready))]
}
