package certcentral_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// attempts counts observer callbacks.
type attempts struct {
	mu    sync.Mutex
	infos []certcentral.RequestInfo
}

func (a *attempts) observe(i certcentral.RequestInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.infos = append(a.infos, i)
}

func (a *attempts) n() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.infos)
}

func TestRetries(t *testing.T) {
	policy := certcentral.RetryPolicy{MaxAttempts: 5, BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for _, tc := range []struct {
		name      string
		fault     func(*certcentraltest.Server)
		ok        bool
		attempts  int
		retryable bool
		sleeps    []time.Duration // exact sleeps; nil: check backoff bounds only
	}{
		{"3x503 then success", func(s *certcentraltest.Server) { s.FailNext(3, 503) }, true, 4, false, nil},
		{"500 502 504 then success", func(s *certcentraltest.Server) {
			s.FailNext(1, 500)
			s.FailNext(1, 502)
			s.FailNext(1, 504)
		}, true, 4, false, nil},
		{"400 not retried", func(s *certcentraltest.Server) { s.FailNext(1, 400) }, false, 1, false, []time.Duration{}},
		{"401 not retried", func(s *certcentraltest.Server) { s.FailNext(1, 401) }, false, 1, false, []time.Duration{}},
		{"403 not retried", func(s *certcentraltest.Server) { s.FailNext(1, 403) }, false, 1, false, []time.Duration{}},
		{"404 not retried", func(s *certcentraltest.Server) { s.FailNext(1, 404) }, false, 1, false, []time.Duration{}},
		{"429 Retry-After honoured", func(s *certcentraltest.Server) { s.Burst429(2, 7*time.Second) }, true, 3, false,
			[]time.Duration{7 * time.Second, 7 * time.Second}},
		{"429 without Retry-After", func(s *certcentraltest.Server) { s.Burst429(2, 0) }, true, 3, false, nil},
		{"Retry-After beyond MaxRetryAfter gives up", func(s *certcentraltest.Server) { s.Burst429(1, time.Hour) }, false, 1, true,
			[]time.Duration{}},
		{"gives up after max attempts", func(s *certcentraltest.Server) { s.FailNext(10, 503) }, false, 5, true, nil},
		{"dropped connection retried", func(s *certcentraltest.Server) {
			s.Inject(certcentraltest.Fault{DropRequest: true, Count: 2})
		}, true, 3, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.fault(e.sim)
			var obs attempts
			c := e.client(t, func(c *certcentral.Config) { c.Retry = policy; c.Observer = obs.observe })
			_, err := c.ListWebhooks(ctx(t))
			record(err)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%t", err, tc.ok)
			}
			if obs.n() != tc.attempts {
				t.Errorf("%d attempts, want %d", obs.n(), tc.attempts)
			}
			if err != nil && certcentral.IsRetryable(err) != tc.retryable {
				t.Errorf("IsRetryable(%v) = %t", err, !tc.retryable)
			}
			var re *certcentral.RetryError
			if tc.retryable && (!errors.As(err, &re) || re.Attempts != tc.attempts) {
				t.Errorf("error %v is not a RetryError after %d attempts", err, tc.attempts)
			}
			sleeps := e.clock.Sleeps()
			if tc.sleeps != nil {
				if len(sleeps) != len(tc.sleeps) {
					t.Fatalf("sleeps = %v, want %v", sleeps, tc.sleeps)
				}
				for i := range sleeps {
					if sleeps[i] != tc.sleeps[i] {
						t.Errorf("sleeps = %v, want %v", sleeps, tc.sleeps)
					}
				}
				return
			}
			if want := tc.attempts - 1; !tc.ok {
				if len(sleeps) != want {
					t.Errorf("%d sleeps, want %d", len(sleeps), want)
				}
			}
			for i, d := range sleeps {
				limit := min(policy.BaseBackoff<<i, policy.MaxBackoff)
				if d < 0 || d > limit {
					t.Errorf("sleep %d = %v, want within [0, %v]", i, d, limit)
				}
			}
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	clock := certcentraltest.NewFakeClock(t0)
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Set("Retry-After", t0.Add(42*time.Second).Format(http.TimeFormat))
			w.WriteHeader(503)
			return
		}
		w.Write([]byte(`{"webhooks":[]}`))
	}))
	defer srv.Close()
	c, err := certcentral.New(certcentral.Config{BaseURL: srv.URL, APIKey: "k-0123456789", Clock: clock, NoLimiter: true})
	must(t, err)
	ws, err := c.ListWebhooks(context.Background()) // a 42s wait exceeds ctx(t)'s deadline
	must(t, err)
	if len(ws) != 0 || n != 2 {
		t.Errorf("webhooks %v after %d requests", ws, n)
	}
	if s := clock.Sleeps(); len(s) != 1 || s[0] != 42*time.Second {
		t.Errorf("sleeps = %v, want [42s]", s)
	}
}

// cancelClock cancels a context on the first sleep.
type cancelClock struct {
	*certcentraltest.FakeClock
	cancel context.CancelFunc
}

func (c cancelClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.FakeClock.Sleep(ctx, d)
}

func TestContextStopsRetries(t *testing.T) {
	e := newEnv(t)
	e.sim.FailNext(10, 503)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var obs attempts
	c := e.client(t, func(c *certcentral.Config) {
		c.Clock = cancelClock{e.clock, cancel}
		c.Observer = obs.observe
		c.Limiter = nil
		c.NoLimiter = true
	})
	_, err := c.ListWebhooks(cctx)
	record(err)
	if !errors.Is(err, context.Canceled) || obs.n() != 1 {
		t.Errorf("err = %v after %d attempts, want context.Canceled after 1", err, obs.n())
	}
	var ae *certcentral.APIError
	if !errors.As(err, &ae) || ae.Status != 503 {
		t.Errorf("the last attempt's error is lost: %v", err)
	}

	// Already cancelled: no request at all.
	before := len(e.sim.Requests())
	_, err = c.ListWebhooks(cctx)
	if !errors.Is(record(err), context.Canceled) || len(e.sim.Requests()) != before {
		t.Errorf("cancelled call: %v", err)
	}

	// A deadline shorter than the backoff ends the retries at once.
	e.sim.ClearFaults()
	e.sim.Burst429(1, 30*time.Second)
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c2 := e.client(t)
	_, err = c2.ListWebhooks(dctx)
	var re *certcentral.RetryError
	if !errors.As(record(err), &re) || !certcentral.IsRetryable(err) {
		t.Errorf("deadline before Retry-After: %v", err)
	}
}

func TestTimeoutRetried(t *testing.T) {
	e := newEnv(t)
	e.sim.Inject(certcentraltest.Fault{Latency: 300 * time.Millisecond, Count: 2})
	var obs attempts
	c := e.client(t, func(c *certcentral.Config) {
		c.Timeout = 30 * time.Millisecond
		c.Observer = obs.observe
		c.Retry.MaxAttempts = 2
	})
	_, err := c.ListWebhooks(ctx(t))
	record(err)
	var te *certcentral.TransportError
	if !errors.As(err, &te) || !te.Timeout() || !certcentral.IsRetryable(err) || obs.n() != 2 {
		t.Fatalf("err = %v (%T) after %d attempts", err, err, obs.n())
	}
	for _, i := range obs.infos {
		if i.Status != 0 || i.Err == nil {
			t.Errorf("observer saw %+v", i)
		}
	}
	// Connection refused is retryable too.
	c3, _ := certcentral.New(certcentral.Config{BaseURL: "http://127.0.0.1:1/services/v2", APIKey: e.key,
		Clock: e.clock, NoLimiter: true, Retry: certcentral.RetryPolicy{MaxAttempts: 2}})
	_, err = c3.ListWebhooks(ctx(t))
	if !errors.As(record(err), &te) || !certcentral.IsRetryable(err) {
		t.Errorf("connection refused: %v", err)
	}
}

// TestDroppedPUTResponse: DigiCert applies the PUT but the answer is lost. The
// client reports a retryable error and the simulator holds the new secret; a
// retry sends the identical body and succeeds.
func TestDroppedPUTResponse(t *testing.T) {
	e := newEnv(t)
	e.lis.accept(oldSecret, newSecret)
	path := "/webhook/" + strconv.Itoa(e.id)
	req := certcentral.UpdateRequest{Endpoint: e.lis.url("/hook"), Secret: certcentral.SecretValue(newSecret)}

	e.sim.DropNextResponse(http.MethodPut, path)
	c1 := e.client(t, func(c *certcentral.Config) { c.Retry.MaxAttempts = 1 })
	err := c1.UpdateWebhook(ctx(t), e.id, req)
	record(err)
	var te *certcentral.TransportError
	if !errors.As(err, &te) || !certcentral.IsRetryable(err) {
		t.Fatalf("dropped response: %v (%T)", err, err)
	}
	if w := e.acct.Webhook(); w.Secret != newSecret {
		t.Errorf("PUT was not applied")
	}

	e.sim.DropNextResponse(http.MethodPut, path)
	must(t, e.client(t).UpdateWebhook(ctx(t), e.id, req))
	puts := e.sim.RequestsTo(http.MethodPut, path)
	if len(puts) != 3 || !puts[0].Dropped || !puts[1].Dropped || puts[2].Dropped || puts[2].Status != 204 {
		t.Fatalf("PUT log = %+v", puts)
	}
	for _, p := range puts[1:] {
		if string(p.Body) != string(puts[0].Body) {
			t.Errorf("retried PUT body differs: %s vs %s", p.Body, puts[0].Body)
		}
	}
	if st := e.sim.Stats(); st.Dropped != 2 || st.Requests["PUT "+path] != 3 {
		t.Errorf("stats = %+v", st)
	}
}
