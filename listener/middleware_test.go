package listener_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
)

// echoRole is a downstream handler that reports the role it was given and whether the
// key header still reached it.
func echoRole(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, ok := listener.RoleFromContext(r.Context())
		if !ok {
			t.Error("downstream handler got no role")
		}
		if r.Header.Get(listener.HeaderKey) != "" {
			t.Error("the key header reached the downstream handler")
		}
		io.WriteString(w, role.String())
	})
}

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name     string
		header   []string // X-WEBHOOK-KEY values; nil: no header
		after    time.Duration
		stale    bool // MaxStaleness 5m instead of 2h, so that the advance makes the set stale
		status   int
		body     string
		reason   listener.Reason
		wantRole keyset.Role
	}{
		{"current", []string{keyCurrent}, 0, false, 200, "current", listener.ReasonNone, keyset.RoleCurrent},
		{"pending", []string{keyPending}, 0, false, 200, "pending", listener.ReasonNone, keyset.RolePending},
		{"previous", []string{keyPrevious}, 0, false, 200, "previous", listener.ReasonNone, keyset.RolePrevious},
		{"no header", nil, 0, false, 401, "Unauthorized\n", listener.ReasonMissingKey, 0},
		{"empty header", []string{""}, 0, false, 401, "Unauthorized\n", listener.ReasonMissingKey, 0},
		{"wrong key", []string{keyOther}, 0, false, 401, "Unauthorized\n", listener.ReasonWrongKey, 0},
		{"expired previous", []string{keyPrevious}, time.Hour, false, 401, "Unauthorized\n", listener.ReasonExpiredKey, 0},
		{"stale key set", []string{keyCurrent}, 6 * time.Minute, true, 503, "Service Unavailable\n", listener.ReasonUnavailable, 0},
		{"first of two headers", []string{keyCurrent, keyOther}, 0, false, 200, "current", listener.ReasonNone, keyset.RoleCurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, fullDoc(), func(c *listener.Config) { c.MaxStaleness = 2 * time.Hour })
			if tt.stale {
				s = newSetup(t, fullDoc(), nil) // MaxStaleness 5m
			}
			s.load(t)
			s.clock.Advance(tt.after)
			h := s.v.Middleware(echoRole(t))
			req := httptest.NewRequest(http.MethodPost, "/hooks/digicert?team=a", strings.NewReader(`{"event":"certificate_issued"}`))
			req.RemoteAddr = "216.168.240.7:4242"
			for _, v := range tt.header {
				req.Header.Add("X-WEBHOOK-KEY", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("answer %d %q, want %d %q", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
			logs := s.logs.String()
			noKeysIn(t, "logs", logs)
			noKeysIn(t, "response", rec.Body.String())
			if tt.reason != listener.ReasonNone {
				for _, want := range []string{`"reason":"` + tt.reason.String() + `"`, `"remote_addr":"216.168.240.7:4242"`, `"path":"/hooks/digicert"`, `"target":"prod-us"`} {
					if !strings.Contains(logs, want) {
						t.Errorf("rejection log lacks %s:\n%s", want, logs)
					}
				}
				if strings.Contains(logs, "team=a") {
					t.Error("the query string was logged")
				}
			}
			st := s.v.Stats()
			if tt.reason == listener.ReasonNone && st.Accepted[tt.wantRole] != 1 {
				t.Errorf("Stats.Accepted[%v] = %d, want 1", tt.wantRole, st.Accepted[tt.wantRole])
			}
			if tt.reason != listener.ReasonNone && st.Rejected[tt.reason] != 1 {
				t.Errorf("Stats.Rejected[%v] = %d, want 1", tt.reason, st.Rejected[tt.reason])
			}
		})
	}
}

// Every rejection looks the same from outside: same status, same body, same headers.
func TestMiddlewareRejectionsAreIndistinguishable(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.MaxStaleness = 2 * time.Hour })
	s.load(t)
	s.clock.Advance(time.Hour) // previous just expired
	h := s.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("handler reached") }))
	var first *httptest.ResponseRecorder
	for _, key := range []string{"", keyOther, keyPrevious, keyCurrent[:10]} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		if key != "" {
			req.Header.Set("X-Webhook-Key", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if first == nil {
			first = rec
			continue
		}
		if rec.Code != first.Code || rec.Body.String() != first.Body.String() || len(rec.Header()) != len(first.Header()) {
			t.Errorf("key %s: answer %d %q %v differs from %d %q %v", keyset.Fingerprint(key),
				rec.Code, rec.Body, rec.Header(), first.Code, first.Body, first.Header())
		}
	}
}

func TestMiddlewareBodyLimit(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.MaxBodyBytes = 64 })
	s.load(t)
	var readErr error
	var read int
	h := s.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		read, readErr = len(b), err
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}))
	serve := func(body io.Reader, contentLength int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", body)
		req.ContentLength = contentLength
		req.Header.Set("X-WEBHOOK-KEY", keyCurrent)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	if rec := serve(strings.NewReader(strings.Repeat("a", 64)), 64); rec.Code != 200 || readErr != nil || read != 64 {
		t.Errorf("64 bytes: %d, read %d, %v", rec.Code, read, readErr)
	}
	read, readErr = -1, nil
	if rec := serve(strings.NewReader(strings.Repeat("a", 65)), 65); rec.Code != 413 || read != -1 {
		t.Errorf("declared 65 bytes: %d (handler read %d), want 413 before the handler", rec.Code, read)
	}
	// Undeclared length (chunked): the handler's read stops at the limit.
	rec := serve(io.MultiReader(strings.NewReader(strings.Repeat("a", 1000))), -1)
	var mbe *http.MaxBytesError
	if rec.Code != 413 || !errors.As(readErr, &mbe) || read > 64 {
		t.Errorf("chunked 1000 bytes: %d, read %d, %v; want 413 and a MaxBytesError", rec.Code, read, readErr)
	}
	// An unauthenticated request is answered 401 before its size matters.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("a", 65)))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("unauthenticated large body: %d, want 401", rec.Code)
	}
}

func TestMiddlewareDefaultBodyLimit(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	h := s.v.Middleware(listener.EventHandler(zerologTo(s.logs)))
	body := `{"event":"certificate_issued","data":{"pad":"` + strings.Repeat("a", listener.DefaultMaxBodyBytes) + `"}}`
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.ContentLength = -1
	req.Header.Set("X-WEBHOOK-KEY", keyCurrent)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %d, want 413", rec.Code)
	}
}

func TestRoleFromContextWithoutMiddleware(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	if role, ok := listener.RoleFromContext(req.Context()); ok || role != keyset.RoleNone {
		t.Errorf("RoleFromContext = %v, %v; want none, false", role, ok)
	}
	ctx := listener.ContextWithRole(req.Context(), keyset.RolePending)
	if role, ok := listener.RoleFromContext(ctx); !ok || role != keyset.RolePending {
		t.Errorf("RoleFromContext = %v, %v; want pending", role, ok)
	}
}
