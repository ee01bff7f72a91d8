package listener_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
)

// benchVerifier is a loaded verifier on the system clock over a 3-key set of minted keys.
func benchVerifier(b *testing.B) (*listener.Verifier, [3]string) {
	b.Helper()
	var keys [3]string
	for i := range keys {
		k, err := keyset.Generate(keyset.DefaultLength)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}
	doc := keyset.Document{Current: keys[0], Pending: keys[1], Previous: keys[2], PreviousUntil: time.Now().Add(time.Hour)}
	v, err := listener.New(listener.Config{Source: staticSource{doc}, Path: "p", Target: "bench",
		Refresh: time.Minute, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	return v, keys
}

// BenchmarkVerify is the hot path: one key against a current/pending/previous set.
func BenchmarkVerify(b *testing.B) {
	v, keys := benchVerifier(b)
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"current", keys[0], true},
		{"previous", keys[2], true},
		{"wrong", strings.Repeat("x", keyset.DefaultLength), false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := v.Verify(tc.key); ok != tc.ok {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// BenchmarkVerifyParallel checks that concurrent requests do not contend.
func BenchmarkVerifyParallel(b *testing.B) {
	v, keys := benchVerifier(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := v.Verify(keys[1]); !ok {
				b.Fatal("rejected")
			}
		}
	})
}

// BenchmarkMiddleware is one in-memory delivery through Middleware to a trivial handler.
func BenchmarkMiddleware(b *testing.B) {
	v, keys := benchVerifier(b)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	body := `{"event":"certificate_issued","data":{"order_id":12345,"certificate_id":23456}}`
	for _, tc := range []struct {
		name, key string
		h         http.Handler
		status    int
	}{
		{"baseline-no-middleware", keys[0], ok, 200}, // the cost of the request and recorder alone
		{"accepted", keys[0], v.Middleware(ok), 200},
		{"rejected", strings.Repeat("x", keyset.DefaultLength), v.Middleware(ok), 401},
	} {
		h := tc.h
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/hooks/digicert", strings.NewReader(body))
				req.Header.Set("X-WEBHOOK-KEY", tc.key)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tc.status {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
