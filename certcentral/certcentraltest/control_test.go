package certcentraltest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// TestControlHandler drives the /_sim/ control API: a delivery the listener accepts, one
// it refuses, the stats, and the delivery log, which never shows the key.
func TestControlHandler(t *testing.T) {
	refuse := false
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer listener.Close()
	sim := certcentraltest.New(certcentraltest.AllowHTTPEndpoints())
	defer sim.Close()
	sim.AddAccount(key).SetWebhook(certcentraltest.Webhook{Endpoint: listener.URL, Secret: secret, Status: certcentraltest.StatusActive})
	srv := httptest.NewServer(sim.ControlHandler())
	defer srv.Close()

	if a := do(t, srv.URL+certcentraltest.BasePath, "GET", "/webhook", key, ""); a.status != 200 {
		t.Errorf("the API beside the control API: GET /webhook %d", a.status)
	}
	tests := []struct {
		name, method, path string
		refuse             bool
		wantStatus         int
		want               []string // substrings of the body
	}{
		{"deliver", "POST", "/_sim/deliver?api_key=" + key, false, 200, []string{`"event":"certificate_issued"`, `"listener_status":200`, `"error":""`}},
		{"deliver refused", "POST", "/_sim/deliver?api_key=" + key + "&event=order_rejected", true, 200, []string{`"event":"order_rejected"`, `"listener_status":503`}},
		{"unknown key", "POST", "/_sim/deliver?api_key=nope", false, 404, []string{"unknown api_key"}},
		{"stats", "GET", "/_sim/stats", false, 200, []string{`"Deliveries":2`}},
		{"deliveries", "GET", "/_sim/deliveries", false, 200, []string{`"event":"certificate_issued"`, `"event":"order_rejected"`, `"key_sent":true`}},
		{"failed deliveries", "GET", "/_sim/deliveries?failed=1", false, 200, []string{`"event":"order_rejected"`, `"status":503`}},
		{"deliver is POST only: a GET is the API's 404", "GET", "/_sim/deliver?api_key=" + key, false, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refuse = tt.refuse
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
			if strings.Contains(body, secret) {
				t.Errorf("body shows the webhook's secret: %s", body)
			}
		})
	}
	var ds []map[string]any
	resp, err := http.Get(srv.URL + "/_sim/deliveries?failed=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil || len(ds) != 1 {
		t.Errorf("failed deliveries: %v, %v; want one", ds, err)
	}
}
