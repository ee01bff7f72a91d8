package listener_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keyroll/keyroll/listener"
)

// upstream records what reaches the receiver behind the sidecar.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, r)
		u.body = append(u.body, string(b))
		u.mu.Unlock()
		w.Header().Set("X-Receiver", "python")
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "receiver says no")
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "queued "+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) at(i int) (*http.Request, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[i], u.body[i]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func TestProxy(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	up := newUpstream(t)
	base, _ := url.Parse(up.URL + "/receiver")
	sidecar := httptest.NewServer(s.v.Proxy(base, nil))
	defer sidecar.Close()

	post := func(path, key, role string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, sidecar.URL+path, strings.NewReader(`{"event":"certificate_issued"}`))
		if key != "" {
			req.Header.Set(listener.HeaderKey, key)
		}
		if role != "" {
			req.Header.Set(listener.HeaderRole, role) // a sender cannot choose its role
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, tc := range []struct {
		key, role string
	}{{keyCurrent, "current"}, {keyPending, "pending"}, {keyPrevious, "previous"}} {
		before := up.count()
		resp, body := post("/hooks/digicert?a=1&b=2", tc.key, "current")
		if resp.StatusCode != http.StatusAccepted || body != "queued /receiver/hooks/digicert?a=1&b=2" || resp.Header.Get("X-Receiver") != "python" {
			t.Errorf("%s: %d %q %v", tc.role, resp.StatusCode, body, resp.Header)
			continue
		}
		r, got := up.at(before)
		if r.Header.Get(listener.HeaderRole) != tc.role || r.Header.Get(listener.HeaderKey) != "" || got != `{"event":"certificate_issued"}` {
			t.Errorf("%s: upstream got role %q, key header %v, body %q", tc.role, r.Header.Get(listener.HeaderRole), r.Header[http.CanonicalHeaderKey(listener.HeaderKey)] != nil, got)
		}
	}

	// The upstream's own status and body go back to the sender.
	if resp, body := post("/x?fail=1", keyCurrent, ""); resp.StatusCode != http.StatusTeapot || body != "receiver says no" {
		t.Errorf("upstream failure: %d %q", resp.StatusCode, body)
	}

	// Everything else is answered 401 and never forwarded.
	n := up.count()
	for _, key := range []string{"", keyOther, strings.ToLower(keyCurrent)} {
		if resp, _ := post("/hooks/digicert", key, "current"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("key %q: %d, want 401", key[:min(len(key), 4)], resp.StatusCode)
		}
	}
	if up.count() != n {
		t.Errorf("%d rejected deliveries reached the upstream", up.count()-n)
	}
	noKeysIn(t, "logs", s.logs.String())
}

func TestProxyUpstreamDown(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	up := httptest.NewServer(http.NotFoundHandler())
	base, _ := url.Parse(up.URL)
	up.Close()
	sidecar := httptest.NewServer(s.v.Proxy(base, nil))
	defer sidecar.Close()
	req, _ := http.NewRequest(http.MethodPost, sidecar.URL+"/hook", strings.NewReader("{}"))
	req.Header.Set(listener.HeaderKey, keyCurrent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("unreachable upstream: %d, want 502", resp.StatusCode)
	}
	if !strings.Contains(s.logs.String(), "delivery not forwarded upstream") {
		t.Errorf("logs:\n%s", s.logs)
	}
	noKeysIn(t, "logs", s.logs.String())
}

// TestProxyStripsEverySpellingOfItsHeaders: no header an upstream could read as
// X-WEBHOOK-KEY or X-Keyroll-* reaches it, in any case, with '_' or '-'.
func TestProxyStripsEverySpellingOfItsHeaders(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	up := newUpstream(t)
	base, _ := url.Parse(up.URL)
	sidecar := httptest.NewServer(s.v.Proxy(base, nil))
	defer sidecar.Close()
	spellings := func(name string) []string {
		var out []string
		// every combination of case for the first letters and '_' or '-' at each separator
		words := strings.Split(name, "-")
		for mask := 0; mask < 1<<(len(words)-1); mask++ {
			for _, c := range []func(string) string{strings.ToUpper, strings.ToLower, http.CanonicalHeaderKey, func(s string) string {
				return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
			}} {
				var b strings.Builder
				for i, w := range words {
					if i > 0 {
						b.WriteByte("-_"[mask>>(i-1)&1])
					}
					b.WriteString(w)
				}
				out = append(out, c(b.String()))
			}
		}
		return out
	}
	var names []string
	for _, n := range []string{"X-Webhook-Key", "X-Keyroll-Key-Role", "X-Keyroll-Anything"} {
		names = append(names, spellings(n)...)
	}
	for _, name := range names {
		if strings.EqualFold(name, listener.HeaderKey) {
			continue // the real header: the key the sidecar checks
		}
		req, _ := http.NewRequest(http.MethodPost, sidecar.URL+"/h", strings.NewReader(`{}`))
		req.Header.Set(listener.HeaderKey, keyPrevious)
		req.Header[name] = append(req.Header[name], "spoofed") // raw name, not canonicalised
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
		got, _ := up.at(up.count() - 1)
		for k, vs := range got.Header {
			for _, v := range vs {
				if v == "spoofed" || v == keyPrevious {
					t.Errorf("sent %q: upstream got %s: %s", name, k, v)
				}
			}
		}
		if r := got.Header.Get(listener.HeaderRole); r != "previous" {
			t.Errorf("sent %q: upstream got role %q, want previous", name, r)
		}
	}
	t.Logf("%d spellings checked", len(names))
	for _, name := range []string{"X-Webhook-Keys", "X-Webhook", "X-Keyroll", "X-Keyroll-", "Content-Type", "X-Keyrollx-A"} {
		if listener.IsOwnHeader(name) {
			t.Errorf("IsOwnHeader(%q) = true", name)
		}
	}
}
