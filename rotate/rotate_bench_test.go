package rotate_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// BenchmarkRotate is one whole rotation as `keyroll run --force` does it with
// propagation_delay 0 and verify_listener on: read, GET, stage, metadata, test event, PUT,
// GET, promote, metadata, evidence to the log. The key store is in memory and the
// simulator in process with no latency, no rate limits and an always-200 listener, so the
// time is keyroll's own work plus the simulator's and the loopback HTTP round trips: an
// upper bound of keyroll's overhead per rotation, without network waits.
func BenchmarkRotate(b *testing.B) {
	lis := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer lis.Close()
	sim := certcentraltest.NewServer(certcentraltest.AllowHTTPEndpoints(), certcentraltest.WithRateLimits())
	defer sim.Close()
	apiKey := "bench-" + strings.Repeat("k", 26)
	initial, _ := keyset.Generate(48)
	sim.AddAccount(apiKey).SetWebhook(certcentraltest.Webhook{Endpoint: lis.URL + "/hook", Secret: initial,
		Events: events, Status: certcentraltest.StatusActive, Settings: settings})
	api, err := certcentral.New(certcentral.Config{BaseURL: sim.URL(), APIKey: apiKey, NoLimiter: true})
	if err != nil {
		b.Fatal(err)
	}
	log := zerolog.New(io.Discard).With().Timestamp().Logger()
	eng := &rotate.Engine{Store: newMemStore(), Recorder: evidence.LogSink{Logger: log}, Log: log}
	target := rotate.Target{Name: "bench", VaultPath: "keyroll/bench", API: certcentral.RotateAPI{Client: api}}
	pol := rotate.Policy{SecretLength: 48, Overlap: time.Hour, PropagationDelay: 0, MinInterval: time.Hour, VerifyListener: true}
	opts := rotate.Options{Force: true, Trigger: evidence.TriggerManual, Actor: "bench"}
	ctx := context.Background()
	if res := eng.Rotate(ctx, target, pol, opts); res.Err != nil { // first rotation creates the document
		b.Fatal(res.Err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if res := eng.Rotate(ctx, target, pol, opts); res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			b.Fatalf("rotation: %s %v", res.Outcome, res.Err)
		}
		if i++; i%256 == 0 {
			sim.ResetLog() // the simulator keeps every request; keep its memory flat
		}
	}
}
