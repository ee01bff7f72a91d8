package certcentraltest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

const (
	key    = "sim-test-api-key-0001"
	secret = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// answer is a raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) code() string {
	var e struct {
		Errors []struct{ Code string }
	}
	_ = json.Unmarshal([]byte(a.body), &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func do(t *testing.T, base, method, path, apiKey, body string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if apiKey != "" {
		req.Header.Set("X-DC-DEVKEY", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// okListener accepts every delivery.
func okListener(t *testing.T) *httptest.Server {
	l := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(l.Close)
	return l
}

func setup(t *testing.T, opts ...certcentraltest.Option) (*certcentraltest.Server, *certcentraltest.Account, int, string) {
	t.Helper()
	l := okListener(t)
	sim := certcentraltest.NewServer(append([]certcentraltest.Option{certcentraltest.AllowHTTPEndpoints()}, opts...)...)
	t.Cleanup(sim.Close)
	a := sim.AddAccount(key)
	id := a.SetWebhook(certcentraltest.Webhook{Endpoint: l.URL + "/hook", Secret: secret, Events: []string{"certificate_issued"}})
	return sim, a, id, l.URL + "/hook"
}

func TestRoutesAndErrors(t *testing.T) {
	sim, _, id, ep := setup(t)
	u := sim.URL()
	wp := "/webhook/" + strconv.Itoa(id)
	for _, tc := range []struct {
		method, path, key, body string
		status                  int
		code                    string
	}{
		{"GET", "/webhook", "", "", 401, "access_denied|invalid_key"},
		{"GET", "/webhook", "unknown-key", "", 401, "access_denied|invalid_key"},
		{"GET", "/nope", key, "", 404, "not_found|route"},
		{"DELETE", "/webhook", key, "", 404, "not_found|route"},
		{"GET", wp, key, "", 404, "not_found|route"},
		{"PUT", "/webhook/abc", key, "{}", 404, "not_found|route"},
		{"PUT", "/webhook/0" + strconv.Itoa(id), key, "{}", 404, "not_found|route"},
		{"PUT", wp + "/explode", key, "", 404, "not_found|route"},
		{"PUT", wp, key, "{not json", 400, "bad_request_format"},
		{"PUT", wp, key, "", 400, "bad_request_format"},
		{"PUT", wp, key, `[1]`, 400, "bad_request_format"},
		{"PUT", wp, key, `{}`, 400, "webhook_invalid_endpoint"},
		{"PUT", wp, key, `{"endpoint":5}`, 400, "webhook_invalid_endpoint"},
		{"PUT", wp, key, `{"endpoint":"` + ep + `","secret":5}`, 400, "bad_request_format"},
		{"PUT", wp, key, `{"endpoint":"` + ep + `","events":"x"}`, 400, "bad_request_format"},
		{"PUT", wp, key, `{"endpoint":"` + ep + `","webhook_settings":[1]}`, 400, "bad_request_format"},
		{"PUT", wp, key, `{"endpoint":"` + ep + `","secret":"short"}`, 400, "webhook_invalid_secret"},
		{"PUT", "/webhook/999999", key, `{"endpoint":"` + ep + `"}`, 404, "not_found|webhook"},
		{"PUT", wp + "/check-challenge", key, `{}`, 400, "bad_request_format"},
		{"PUT", wp + "/check-challenge", key, `{"token":"nope"}`, 400, "webhook_invalid_token"},
		{"PUT", wp + "/activate", key, "", 400, "webhook_invalid_action"},
		{"POST", "/webhook", key, `{"endpoint":"` + ep + `"}`, 400, "webhook_configured_already"},
		{"POST", "/webhook/test-endpoint", key, `{"endpoint":"https://127.0.0.1:1/x"}`, 400, "webhook_endpoint_error"},
		{"POST", "/webhook/test-endpoint", key, `{"endpoint":"` + ep + `","secret":null}`, 200, ""},
		{"PUT", wp, key, `{"endpoint":"` + ep + `","secret":null,"events":null,"webhook_settings":null}`, 204, ""},
	} {
		a := do(t, u, tc.method, tc.path, tc.key, tc.body)
		if a.status != tc.status || a.code() != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, a.status, a.body, tc.status, tc.code)
		}
		if tc.status != 204 && tc.status != 200 && a.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, a.header.Get("Content-Type"))
		}
	}
	st := sim.Stats()
	if st.Statuses[401] != 2 || st.Requests["GET /webhook"] != 2 || st.Requests["GET /nope"] != 1 {
		t.Errorf("stats = %+v", st)
	}
	for _, r := range sim.Requests() {
		if r.Header.Get("X-DC-DEVKEY") != "" {
			t.Errorf("log keeps the API key")
		}
		if r.Method == "GET" && r.Path == "/webhook" && r.KeyFingerprint == certcentraltest.Fingerprint(key) {
			t.Errorf("an unknown key logged with the known key's fingerprint")
		}
	}
}

func TestUnauthorizedConfigurable(t *testing.T) {
	sim := certcentraltest.NewServer(certcentraltest.WithUnauthorizedResponse(403, ""))
	defer sim.Close()
	if a := do(t, sim.URL(), "GET", "/webhook", "x", ""); a.status != 403 || a.body != "" {
		t.Errorf("got %d %q", a.status, a.body)
	}
}

func TestGetBody(t *testing.T) {
	settings := `{ "webhook_send_certificate_chain" : true }`
	for _, tc := range []struct {
		opts []certcentraltest.Option
		hide bool
		want string
	}{
		{nil, false, `{"webhooks":[{"id":1001,"endpoint":"https://h/a?b=1\u0026c=\u003cd\u003e/é","secret":"` + secret + `","events":["certificate_issued"],"status":"active","webhook_settings":` + settings + `}]}`},
		{[]certcentraltest.Option{certcentraltest.WithSettingsPlacement(certcentraltest.SettingsTopLevel), certcentraltest.WithPHPStyleJSON(true)}, true,
			`{"webhooks":[{"id":1001,"endpoint":"https:\/\/h\/a?b=1\u0026c=\u003cd\u003e\/\u00e9","events":["certificate_issued"],"status":"active"}],"webhook_settings":` + settings + `}`},
		{[]certcentraltest.Option{certcentraltest.WithSettingsPlacement(certcentraltest.SettingsOmitted), certcentraltest.WithHideSecret(true)}, false,
			`{"webhooks":[{"id":1001,"endpoint":"https://h/a?b=1\u0026c=\u003cd\u003e/é","events":["certificate_issued"],"status":"active"}]}`},
	} {
		sim := certcentraltest.NewServer(tc.opts...)
		a := sim.AddAccount(key)
		a.SetWebhook(certcentraltest.Webhook{Endpoint: "https://h/a?b=1&c=<d>/é", Secret: secret,
			Events: []string{"certificate_issued"}, Settings: json.RawMessage(settings)})
		if tc.hide {
			a.HideSecret(true)
		}
		got := do(t, sim.URL(), "GET", "/webhook", key, "")
		if got.status != 200 || got.body != tc.want {
			t.Errorf("GET = %d\n%s\nwant\n%s", got.status, got.body, tc.want)
		}
		var v any
		if json.Unmarshal([]byte(got.body), &v) != nil {
			t.Errorf("invalid JSON %s", got.body)
		}
		sim.Close()
	}
	// 4-byte characters in PHP style become surrogate pairs.
	sim := certcentraltest.NewServer(certcentraltest.WithPHPStyleJSON(true))
	defer sim.Close()
	sim.AddAccount(key).SetWebhook(certcentraltest.Webhook{Endpoint: "https://h/🙂"})
	got := do(t, sim.URL(), "GET", "/webhook", key, "")
	var l struct{ Webhooks []struct{ Endpoint string } }
	if !strings.Contains(got.body, `\ud83d\ude42`) || json.Unmarshal([]byte(got.body), &l) != nil || l.Webhooks[0].Endpoint != "https://h/🙂" {
		t.Errorf("PHP style: %s", got.body)
	}
}

func TestRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name          string
		retryAfter    bool
		countRejected bool
	}{{"default", true, false}, {"no retry-after", false, false}, {"count rejected", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := certcentraltest.NewFakeClock(t0)
			sim, _, _, _ := setup(t, certcentraltest.WithClock(clock.Now),
				certcentraltest.WithRetryAfter(tc.retryAfter), certcentraltest.WithCountRejected(tc.countRejected))
			u := sim.URL()
			other := "second-api-key-0002"
			sim.AddAccount(other)
			for i := range 100 {
				if a := do(t, u, "GET", "/webhook", key, ""); a.status != 200 {
					t.Fatalf("request %d: %d", i, a.status)
				}
			}
			a := do(t, u, "GET", "/webhook", key, "")
			if a.status != 429 || a.code() != "request_limit_exceeded" {
				t.Fatalf("101st: %d %s", a.status, a.body)
			}
			if got := a.header.Get("Retry-After"); (got == "5") != tc.retryAfter || (got == "") == tc.retryAfter {
				t.Errorf("Retry-After = %q", got)
			}
			// Limits are per key.
			if a := do(t, u, "GET", "/webhook", other, ""); a.status == 429 {
				t.Errorf("another key was limited")
			}
			clock.Advance(5*time.Second - time.Nanosecond)
			if a := do(t, u, "GET", "/webhook", key, ""); a.status != 429 {
				t.Errorf("just before the window frees: %d", a.status)
			}
			clock.Advance(time.Nanosecond)
			// The first 100 have left the window; a counted rejection (the
			// one a nanosecond ago) takes a place in it.
			ok := 0
			for range 100 {
				if do(t, u, "GET", "/webhook", key, "").status == 200 {
					ok++
				}
			}
			if want := map[bool]int{true: 99, false: 100}[tc.countRejected]; ok != want {
				t.Errorf("after the window: %d accepted, want %d", ok, want)
			}
			st := sim.Stats()
			if st.RateLimited != sim.Count429() || st.RateLimited < 2 {
				t.Errorf("stats %+v, Count429 %d", st, sim.Count429())
			}
		})
	}

	// The 3-minute window: 1000 requests spread over 10 × 5.0s, then 429
	// until the first leaves it.
	clock := certcentraltest.NewFakeClock(t0)
	sim, _, _, _ := setup(t, certcentraltest.WithClock(clock.Now))
	for i := range 1000 {
		if i > 0 && i%100 == 0 {
			clock.Advance(5 * time.Second)
		}
		if a := do(t, sim.URL(), "GET", "/webhook", key, ""); a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	clock.Advance(5 * time.Second) // t0+50s: the 5s window is free, the 3min one is not
	a := do(t, sim.URL(), "GET", "/webhook", key, "")
	if a.status != 429 || a.header.Get("Retry-After") != "130" {
		t.Errorf("1001st: %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	clock.Advance(130 * time.Second)
	if a := do(t, sim.URL(), "GET", "/webhook", key, ""); a.status != 200 {
		t.Errorf("after 3 minutes: %d", a.status)
	}
}

func TestFaults(t *testing.T) {
	sim, acct, id, ep := setup(t, certcentraltest.WithRateLimits())
	u := sim.URL()
	wp := "/webhook/" + strconv.Itoa(id)

	sim.Inject(certcentraltest.Fault{Method: "PUT", Path: certcentraltest.BasePath + wp, Status: 503, Count: 2})
	sim.Inject(certcentraltest.Fault{Status: 500, Body: "plain", ContentType: "text/plain", RetryAfter: "9"})
	if a := do(t, u, "GET", "/webhook", key, ""); a.status != 500 || a.body != "plain" || a.header.Get("Retry-After") != "9" {
		t.Errorf("GET fault: %d %q", a.status, a.body)
	}
	for range 2 {
		if a := do(t, u, "PUT", wp, key, `{"endpoint":"`+ep+`"}`); a.status != 503 || a.code() != "service_unavailable" {
			t.Errorf("PUT fault: %d %s", a.status, a.body)
		}
	}
	if a := do(t, u, "PUT", wp, key, `{"endpoint":"`+ep+`"}`); a.status != 204 {
		t.Errorf("after faults: %d %s", a.status, a.body)
	}
	sim.Burst429(1, 1500*time.Millisecond)
	if a := do(t, u, "GET", "/webhook", key, ""); a.status != 429 || a.header.Get("Retry-After") != "2" {
		t.Errorf("burst: %d %v", a.status, a.header)
	}
	sim.Inject(certcentraltest.Fault{Status: 502, RawBody: true, Count: -1})
	for range 3 {
		if a := do(t, u, "GET", "/webhook", key, ""); a.status != 502 || a.body != "" {
			t.Errorf("unlimited fault: %d %q", a.status, a.body)
		}
	}
	sim.ClearFaults()

	// Dropped response after applying.
	sim.DropNextResponse("PUT", wp)
	req, _ := http.NewRequest("PUT", u+wp, strings.NewReader(`{"endpoint":"`+ep+`","secret":""}`))
	req.Header.Set("X-DC-DEVKEY", key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped response answered %d", resp.StatusCode)
	}
	if acct.Webhook().Secret != "" {
		t.Errorf("dropped PUT not applied")
	}
	// Dropped request: not applied.
	sim.Inject(certcentraltest.Fault{DropRequest: true})
	req, _ = http.NewRequest("PUT", u+wp, strings.NewReader(`{"endpoint":"`+ep+`","secret":"`+secret+`"}`))
	req.Header.Set("X-DC-DEVKEY", key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped request answered %d", resp.StatusCode)
	}
	if acct.Webhook().Secret != "" {
		t.Errorf("dropped request applied")
	}
	st := sim.Stats()
	if st.Dropped != 2 || st.Injected != 9 || sim.Count429() != 1 {
		t.Errorf("stats %+v", st)
	}

	// Latency is real and bounded by the client's patience.
	sim.SetLatency(20 * time.Millisecond)
	start := time.Now()
	do(t, u, "GET", "/webhook", key, "")
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("latency not applied")
	}
	sim.SetLatency(0)
	sim.ResetLog()
	if len(sim.Requests()) != 0 || sim.Stats().Requests["GET /webhook"] != 0 {
		t.Errorf("ResetLog kept entries")
	}
}

func TestUpdateContactModes(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	rejectAll := false
	l := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, r.Header.Get("X-WEBHOOK-KEY"))
		if rejectAll {
			w.WriteHeader(401)
		}
	}))
	defer l.Close()
	ep := l.URL + "/hook"
	for _, tc := range []struct {
		mode     certcentraltest.UpdateContact
		body     string
		contacts int
	}{
		{certcentraltest.ContactAlways, `{"endpoint":"` + ep + `"}`, 1},
		{certcentraltest.ContactOnChange, `{"endpoint":"` + ep + `"}`, 0},
		{certcentraltest.ContactOnChange, `{"endpoint":"` + ep + `","secret":"` + strings.ToUpper(secret) + `"}`, 1},
		{certcentraltest.ContactNever, `{"endpoint":"` + ep + `","secret":"` + strings.ToUpper(secret) + `"}`, 0},
	} {
		sim := certcentraltest.NewServer(certcentraltest.AllowHTTPEndpoints(), certcentraltest.WithUpdateContact(tc.mode))
		id := sim.AddAccount(key).SetWebhook(certcentraltest.Webhook{Endpoint: ep, Secret: secret})
		if a := do(t, sim.URL(), "PUT", "/webhook/"+strconv.Itoa(id), key, tc.body); a.status != 204 {
			t.Errorf("mode %d: %d %s", tc.mode, a.status, a.body)
		}
		if n := len(sim.Deliveries()); n != tc.contacts {
			t.Errorf("mode %d: %d deliveries, want %d", tc.mode, n, tc.contacts)
		}
		sim.Close()
	}
	// Without AllowHTTPEndpoints, http:// is invalid.
	sim := certcentraltest.NewServer()
	defer sim.Close()
	id := sim.AddAccount(key).SetWebhook(certcentraltest.Webhook{Endpoint: ep})
	if a := do(t, sim.URL(), "PUT", "/webhook/"+strconv.Itoa(id), key, `{"endpoint":"`+ep+`"}`); a.code() != "webhook_invalid_endpoint" {
		t.Errorf("http endpoint accepted: %s", a.body)
	}
	// A failed contact on create creates nothing.
	mu.Lock()
	rejectAll = true
	mu.Unlock()
	sim2 := certcentraltest.NewServer(certcentraltest.AllowHTTPEndpoints())
	defer sim2.Close()
	acct := sim2.AddAccount(key)
	if a := do(t, sim2.URL(), "POST", "/webhook", key, `{"endpoint":"`+ep+`"}`); a.code() != "webhook_endpoint_error" || acct.HasWebhook() {
		t.Errorf("create with failing endpoint: %s", a.body)
	}
	d := sim2.Deliveries()
	if len(d) != 1 || d[0].Status != 401 || d[0].Err == "" || d[0].KeySent {
		t.Errorf("deliveries %+v", d)
	}
}

func TestChallengeActivates(t *testing.T) {
	sim, acct, id, ep := setup(t, certcentraltest.WithChallengeActivates(true))
	u := sim.URL()
	wp := "/webhook/" + strconv.Itoa(id)
	if a := do(t, u, "PUT", wp, key, `{"endpoint":"`+ep+`?v=2"}`); a.status != 204 || acct.Webhook().Status != "pending" {
		t.Fatalf("endpoint change: %d, status %s", a.status, acct.Webhook().Status)
	}
	if a := do(t, u, "PUT", wp+"/send-challenge", key, ""); a.status != 204 {
		t.Fatalf("send-challenge: %d %s", a.status, a.body)
	}
	d := sim.Deliveries()
	var ev struct {
		Data struct{ Token string }
	}
	json.Unmarshal(d[len(d)-1].Body, &ev)
	if a := do(t, u, "PUT", wp+"/check-challenge", key, `{"token":"`+ev.Data.Token+`"}`); a.status != 204 || acct.Webhook().Status != "active" {
		t.Errorf("check-challenge: %d, status %s", a.status, acct.Webhook().Status)
	}
	// Tokens are single use.
	if a := do(t, u, "PUT", wp+"/check-challenge", key, `{"token":"`+ev.Data.Token+`"}`); a.code() != "webhook_invalid_token" {
		t.Errorf("token reused: %s", a.body)
	}
}

func TestReadOnlyAndOutOfBand(t *testing.T) {
	sim, acct, id, ep := setup(t)
	acct.SetReadOnly(true)
	if a := do(t, sim.URL(), "PUT", "/webhook/"+strconv.Itoa(id), key, `{"endpoint":"`+ep+`"}`); a.status != 403 || a.code() != "access_denied|missing_permission" {
		t.Errorf("read-only PUT: %d %s", a.status, a.body)
	}
	if a := do(t, sim.URL(), "GET", "/webhook", key, ""); a.status != 200 {
		t.Errorf("read-only GET: %d", a.status)
	}
	if err := acct.SetSecret("changed-in-the-ui-changed-in-the-ui"); err != nil || acct.Webhook().Secret != "changed-in-the-ui-changed-in-the-ui" {
		t.Errorf("SetSecret: %v", err)
	}
	if err := acct.SetEndpoint(ep + "?x"); err != nil || acct.Webhook().Status != "active" {
		t.Errorf("SetEndpoint: %v", err)
	}
	acct.RemoveWebhook()
	if err := acct.SetStatus("active"); err == nil {
		t.Errorf("SetStatus without webhook succeeded")
	}
	if _, err := acct.Deliver(context.Background(), "certificate_issued", nil); err == nil {
		t.Errorf("Deliver without webhook succeeded")
	}
	if a := do(t, sim.URL(), "GET", "/webhook", key, ""); a.code() != "webhook_invalid_account" {
		t.Errorf("GET without webhook: %s", a.body)
	}
}

// TestConcurrent hammers one simulator from many goroutines with faults and
// out-of-band changes, for the race detector.
func TestConcurrent(t *testing.T) {
	sim, acct, id, ep := setup(t, certcentraltest.WithRateLimits(certcentraltest.Window{Requests: 50, Period: time.Second}))
	sim.Inject(certcentraltest.Fault{Status: 503, Count: 10})
	sim.Inject(certcentraltest.Fault{Method: "PUT", DropResponse: true, Count: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				switch (g + i) % 4 {
				case 0:
					do(t, sim.URL(), "GET", "/webhook", key, "")
				case 1:
					req, _ := http.NewRequest("PUT", sim.URL()+"/webhook/"+strconv.Itoa(id), bytes.NewReader([]byte(`{"endpoint":"`+ep+`"}`)))
					req.Header.Set("X-DC-DEVKEY", key)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				case 2:
					acct.SetSecret(strings.Repeat(strconv.Itoa(i), 40))
					_ = acct.Webhook()
				case 3:
					_ = sim.Stats()
					_ = sim.Requests()
					_ = sim.Deliveries()
				}
			}
		}()
	}
	wg.Wait()
	st := sim.Stats()
	total := 0
	for _, n := range st.Requests {
		total += n
	}
	if total != len(sim.Requests()) || st.Injected != 13 {
		t.Errorf("stats %+v, %d logged", st, len(sim.Requests()))
	}
}

func TestFakeClock(t *testing.T) {
	c := certcentraltest.NewFakeClock(t0)
	c.Advance(time.Second)
	if err := c.Sleep(context.Background(), 2*time.Second); err != nil || !c.Now().Equal(t0.Add(3*time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil || !c.Now().Equal(t0.Add(3*time.Second)) {
		t.Errorf("Sleep on cancelled ctx")
	}
	if s := c.Sleeps(); len(s) != 1 || s[0] != 2*time.Second {
		t.Errorf("Sleeps = %v", s)
	}
}

func TestHandlerWithoutListener(t *testing.T) {
	sim := certcentraltest.New()
	defer sim.Close()
	if sim.URL() != "" || sim.Client() != nil || sim.Certificate() != nil {
		t.Errorf("New() should not listen")
	}
	sim.AddAccount(key).SetWebhook(certcentraltest.Webhook{Endpoint: "https://h"})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	if a := do(t, srv.URL+certcentraltest.BasePath, "GET", "/webhook", key, ""); a.status != 200 {
		t.Errorf("GET via Handler: %d", a.status)
	}
	tls := certcentraltest.NewTLSServer()
	defer tls.Close()
	if tls.Certificate() == nil || !strings.HasPrefix(tls.URL(), "https://") {
		t.Errorf("TLS server: %s", tls.URL())
	}
	resp, err := tls.Client().Get(tls.URL() + "/webhook")
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("TLS GET: %v", err)
	} else {
		resp.Body.Close()
	}
}
