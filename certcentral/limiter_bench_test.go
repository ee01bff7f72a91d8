package certcentral

import (
	"context"
	"testing"
	"time"
)

// benchClock is a clock whose Sleep only moves time on, so a benchmark runs the limiter
// in its steady state (both windows full) without waiting.
type benchClock struct{ now time.Time }

func (c *benchClock) Now() time.Time { return c.now }

func (c *benchClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return nil
}

// BenchmarkLimiterWait is the cost of one grant with DigiCert's two windows full.
func BenchmarkLimiterWait(b *testing.B) {
	clock := &benchClock{now: time.Unix(1700000000, 0)}
	l := NewLimiter(WithLimiterClock(clock))
	ctx := context.Background()
	for range 2000 { // fill both windows
		if err := l.wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiterWaitParallel is one grant under contention, on the real clock with
// limits high enough never to wait: the cost of the shared mutex.
func BenchmarkLimiterWaitParallel(b *testing.B) {
	l := NewLimiter(WithWindows(Window{Requests: 1 << 30, Period: time.Hour}))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.wait(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecodeList parses a GET /webhook answer as the simulator sends it.
func BenchmarkDecodeList(b *testing.B) {
	body := []byte(`{"webhooks":[{"id":1001,"endpoint":"https://listener.example.com/hooks/digicert?team=a","secret":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL","events":["certificate_issued","certificate_revoked","order_rejected"],"status":"active","webhook_settings":{"webhook_notification_frequency":[90,60,30,7,0,-7],"instant_issue_webhook_notification":"0","webhook_send_certificate_chain":"0","webhook_send_instant_issued_certificate_chain":"0"}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if ws, err := decodeList(body); err != nil || len(ws) != 1 {
			b.Fatal(err)
		}
	}
}
