package listener_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/listener"
)

// slowSource is a DocumentSource whose reads block until released, counting them.
type slowSource struct {
	mu      sync.Mutex
	reads   int
	release chan struct{}
}

func (s *slowSource) Read(ctx context.Context, path string) (listener.Versioned, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	<-s.release
	return listener.Versioned{Doc: fullDoc(), Version: 1}, nil
}

func TestRefreshZeroSharesOneReadInFlight(t *testing.T) {
	src := &slowSource{release: make(chan struct{})}
	v, err := listener.New(listener.Config{Source: src, Path: "p", Refresh: 0, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	results := make(chan bool, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := keyOther // unauthenticated traffic
			if i%2 == 0 {
				key = keyCurrent
			}
			_, ok := v.Verify(key)
			results <- ok == (key == keyCurrent)
		}(i)
	}
	// Let every request queue up behind the first read, then finish it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		src.mu.Lock()
		r := src.reads
		src.mu.Unlock()
		if r >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(src.release)
	wg.Wait()
	close(results)
	for ok := range results {
		if !ok {
			t.Fatal("a request got the wrong verdict")
		}
	}
	if src.reads > n/10 {
		t.Errorf("%d concurrent requests made %d reads of the document, want them to share reads in flight", n, src.reads)
	}
}

func TestRejectionLogsAreRateLimited(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.LogEvery = time.Minute })
	s.load(t)
	h := s.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for i := 0; i < 100; i++ {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		r.Header.Set(listener.HeaderKey, keyOther)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := strings.Count(s.logs.String(), "webhook delivery rejected"); n != 1 {
		t.Errorf("%d rejection lines for 100 rejections within a minute, want 1", n)
	}
	s.clock.Advance(time.Minute)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	r.Header.Set(listener.HeaderKey, keyOther)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(s.logs.String(), `"suppressed":99`) {
		t.Errorf("the next line does not count the 99 dropped: %s", s.logs.String())
	}
	if st := s.v.Stats(); st.Rejected[listener.ReasonWrongKey] != 101 {
		t.Errorf("rejections counted %d, want every one of them", st.Rejected[listener.ReasonWrongKey])
	}
	noKeysIn(t, "logs", s.logs.String())
}

func TestAllowFrom(t *testing.T) {
	allowed, err := listener.ParseCIDRs("203.0.113.0/24, 2001:db8::/32,198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		remote, xff string
		trust       bool
		want        int
	}{
		{"203.0.113.9:4000", "", false, 200},
		{"[2001:db8::1]:4000", "", false, 200},
		{"198.51.100.7:4000", "", false, 200},
		{"198.51.100.8:4000", "", false, 403},
		{"[::ffff:203.0.113.9]:4000", "", false, 200},
		{"10.0.0.1:4000", "203.0.113.9", false, 403}, // forwarded-for is not trusted unless asked
		{"10.0.0.1:4000", "198.51.100.8, 203.0.113.9", true, 200},
		{"10.0.0.1:4000", "203.0.113.9, 198.51.100.8", true, 403},
		{"10.0.0.1:4000", "garbage", true, 403},
	}
	for _, tt := range tests {
		h := listener.AllowFrom(allowed, tt.trust, zerolog.Nop(), ok)
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s (X-Forwarded-For %q, trusted %v): %d, want %d", tt.remote, tt.xff, tt.trust, w.Code, tt.want)
		}
	}
	for _, bad := range []string{"", "nope", "10.0.0.0/33"} {
		if _, err := listener.ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
}
