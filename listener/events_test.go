package listener_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
)

func zerologTo(w io.Writer) zerolog.Logger { return zerolog.New(w) }

func TestEventHandler(t *testing.T) {
	tests := []struct {
		name   string
		method string
		body   string
		status int
		logs   []string
	}{
		{"test event", "POST", `{"event":"test_webhook_endpoint"}`, 200,
			[]string{`"event":"test_webhook_endpoint"`, `"key_role":"pending"`}},
		{"challenge", "POST", `{"event":"challenge_webhook_endpoint","data":{"token":"tok-123","webhook_id":1001}}`, 200,
			[]string{`"event":"challenge_webhook_endpoint"`, `"challenge_token":"tok-123"`, `"webhook_id":"1001"`}},
		{"certificate issued", "POST", `{"event":"certificate_issued","data":{"order_id":12345,"certificate_id":"23456"}}`, 200,
			[]string{`"event":"certificate_issued"`, `"order_id":"12345"`, `"certificate_id":"23456"`, `"message":"webhook event"`}},
		{"unknown event type", "POST", `{"event":"something_new","data":{"x":1}}`, 200, []string{`"event":"something_new"`}},
		{"not JSON", "POST", `event=x`, 400, []string{"webhook delivery not understood"}},
		{"no event type", "POST", `{"data":{}}`, 400, []string{"no event type"}},
		{"data not an object", "POST", `{"event":"x","data":[1]}`, 400, nil},
		{"GET", "GET", ``, 405, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			h := listener.EventHandler(zerologTo(&logs))
			req := httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body))
			req = req.WithContext(listener.ContextWithRole(req.Context(), keyset.RolePending))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			for _, want := range tt.logs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %s:\n%s", want, logs.String())
				}
			}
		})
	}
}

func TestEventField(t *testing.T) {
	ev, err := listener.ParseEvent(strings.NewReader(`{"event":"e","data":{"n":12,"s":"x","z":null,"o":{"a":1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"n": "12", "s": "x", "z": "", "missing": "", "o": `{"a":1}`} {
		if got := ev.Field(name); got != want {
			t.Errorf("Field(%q) = %q, want %q", name, got, want)
		}
	}
}

// The reference stack of `keyroll listen`: middleware, then the event handler.
func TestMiddlewareWithEventHandler(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	h := s.v.Middleware(listener.EventHandler(zerologTo(s.logs)))
	for key, want := range map[string]int{keyCurrent: 200, keyPending: 200, keyPrevious: 200, keyOther: 401} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"event":"certificate_issued","data":{"order_id":1}}`))
		req.Header.Set("X-WEBHOOK-KEY", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("key %s: %d, want %d", keyset.Fingerprint(key), rec.Code, want)
		}
	}
	logs := s.logs.String()
	if n := strings.Count(logs, `"message":"webhook event"`); n != 3 {
		t.Errorf("%d events logged, want 3", n)
	}
	for _, role := range []string{"current", "pending", "previous"} {
		if !strings.Contains(logs, `"key_role":"`+role+`"`) {
			t.Errorf("no event logged with role %s", role)
		}
	}
	noKeysIn(t, "logs", logs)
}
