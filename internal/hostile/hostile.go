// Package hostile attacks a webhook port the way an internet client can, while a valid
// sender delivers to it: idle keep-alive connections, slowloris clients, bogus TLS
// handshakes and wrong keys at the highest rate reachable. The hostile-traffic test of
// package listener and cmd/hostile's benchmark use it. Each attacker dials from its own
// loopback address (127.0.0.2 and up), as a distinct internet source would.
package hostile

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the port under attack.
type Target struct {
	Addr      string      // host:port
	TLSConfig *tls.Config // client TLS settings (trusting the port's certificate)
	Path      string      // the delivery path, e.g. "/webhook"
	ValidKey  string      // an X-WEBHOOK-KEY in the accept set
}

// Source returns the loopback address attacker n dials from: 127.0.0.(n+2).
func Source(n int) net.IP { return net.IPv4(127, 0, 0, byte(n+2)) }

// dialer dials from src, bounded by a 5 s connect timeout.
func dialer(src net.IP) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
}

// dialTLS opens a TLS connection from src to t.
func (t Target) dialTLS(ctx context.Context, src net.IP) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: dialer(src), Config: t.TLSConfig}
	return d.DialContext(ctx, "tcp", t.Addr)
}

// Client returns an HTTP client that dials t from src, keeping its connections alive,
// with at most conns of them open (requests beyond wait for one, as a sender's pool does).
func (t Target) Client(src net.IP, conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         dialer(src).DialContext,
		TLSClientConfig:     t.TLSConfig,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// URL is the delivery URL of t.
func (t Target) URL() string {
	scheme := "https"
	if t.TLSConfig == nil {
		scheme = "http"
	}
	return scheme + "://" + t.Addr + t.Path
}

// Counts are what an attack did.
type Counts struct {
	Conns    atomic.Int64 // connections opened
	Requests atomic.Int64 // requests answered
	Errors   atomic.Int64 // requests or connections that failed
	LastErr  atomic.Value // the last error (error)
}

func (c *Counts) failed(err error) {
	c.Errors.Add(1)
	c.LastErr.Store(err)
}

// pause waits d or until ctx ends; false when ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// request is a delivery with key (none when empty) and body.
func request(ctx context.Context, t Target, key string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-WEBHOOK-KEY", key)
	}
	return req, nil
}

// Delivery is one valid delivery's outcome.
type Delivery struct {
	ID       int
	Status   int           // first try's status (0: transport error)
	Err      error         // first try's error
	Latency  time.Duration // first try's
	Attempts int           // tries until a 200 (DigiCert retries a failed delivery)
}

// OK reports whether the first try was answered 200.
func (d Delivery) OK() bool { return d.Status == http.StatusOK }

// Sender delivers valid, numbered deliveries at a fixed rate, like DigiCert.
type Sender struct {
	Target Target
	Client *http.Client
	Rate   int // deliveries a second
	// Retries is how many more tries a failed delivery gets (one every 500 ms).
	Retries int

	mu  sync.Mutex
	out []Delivery
}

// Run delivers Rate deliveries a second for d (each in its own goroutine, so a slow
// one does not delay the next) and returns them, in order, once all have ended.
func (s *Sender) Run(ctx context.Context, d time.Duration) []Delivery {
	n := int(d.Seconds() * float64(s.Rate))
	tick := time.NewTicker(time.Second / time.Duration(s.Rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				i = n
				continue
			case <-tick.C:
			}
		}
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			s.deliver(ctx, id)
		}(i)
	}
	wg.Wait()
	sort.Slice(s.out, func(a, b int) bool { return s.out[a].ID < s.out[b].ID })
	return s.out
}

func (s *Sender) deliver(ctx context.Context, id int) {
	body := []byte(fmt.Sprintf(`{"event":"hostile.test","delivery":%d}`, id))
	d := Delivery{ID: id}
	for try := 0; try <= s.Retries; try++ {
		start := time.Now()
		status, err := s.post(ctx, body)
		if try == 0 {
			d.Status, d.Err, d.Latency = status, err, time.Since(start)
		}
		d.Attempts = try + 1
		if status == http.StatusOK || !pause(ctx, 500*time.Millisecond) {
			break
		}
	}
	s.mu.Lock()
	s.out = append(s.out, d)
	s.mu.Unlock()
}

func (s *Sender) post(ctx context.Context, body []byte) (int, error) {
	req, err := request(ctx, s.Target, s.Target.ValidKey, body)
	if err != nil {
		return 0, err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Percentile returns the p-th percentile (0-100) of the first-try latencies in ds.
func Percentile(ds []Delivery, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ls := make([]time.Duration, len(ds))
	for i, d := range ds {
		ls[i] = d.Latency
	}
	sort.Slice(ls, func(a, b int) bool { return ls[a] < ls[b] })
	i := int(float64(len(ls)-1) * p / 100)
	return ls[i]
}
