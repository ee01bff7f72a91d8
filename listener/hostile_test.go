package listener_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/hostile"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/listener"
)

// received records the deliveries a handler got, by number.
type received struct {
	mu  sync.Mutex
	ids map[int]int
}

func (r *received) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var d struct{ Delivery int }
	if err := json.NewDecoder(req.Body).Decode(&d); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.ids[d.Delivery]++
	r.mu.Unlock()
	_, _ = io.WriteString(w, "ok\n")
}

// guardedPort serves v's middleware over h on a Port of 127.0.0.1 with TLS and returns
// the target, the port and its log.
func guardedPort(t *testing.T, h http.Handler, cfg listener.PortConfig) (hostile.Target, *listener.Port, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg.Log = zerolog.New(logs)
	p := listener.NewPort(cfg)
	certFile, keyFile, pool := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := p.Server(h, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	go func() { _ = srv.ServeTLS(p.Listener(ln), "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return hostile.Target{Addr: ln.Addr().String(), TLSConfig: &tls.Config{RootCAs: pool}, Path: "/webhook", ValidKey: keyCurrent}, p, logs
}

// TestHostileTraffic: while a valid sender delivers 20 requests a second, the same port
// takes, at once, 1,000 idle keep-alive connections from one source (each after a 401),
// slowloris clients, 2,000 bogus TLS handshakes and wrong keys as fast as two clients
// can send them. At least 99.9% of the valid deliveries succeed at the first try, none
// is lost, and the failed handshakes write about one log line a second.
func TestHostileTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile traffic: 12 s")
	}
	if raceEnabled {
		// scripts/test.sh runs this test again without -race: the detector makes each TLS
		// handshake several times dearer, so under it the test measures the detector.
		t.Skip("hostile traffic runs without the race detector (scripts/test.sh)")
	}
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.Clock = nil })
	s.src.set(fullDoc())
	s.load(t)
	got := &received{ids: map[int]int{}}
	target, port, logs := guardedPort(t, s.v.Middleware(got), listener.PortConfig{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := time.Now()
	attack := &hostile.Attack{Target: target, IdleConns: 1000, Slowloris: 50, BogusHandshakes: 2000, WrongKeyWorkers: 2}
	attackDone := make(chan struct{})
	go func() { attack.Run(ctx); close(attackDone) }()
	time.Sleep(time.Second) // let the attack build up

	client := target.Client(net.IPv4(127, 0, 0, 1), 8)
	sender := &hostile.Sender{Target: target, Client: client, Rate: 20, Retries: 10}
	const sending = 10 * time.Second
	ds := sender.Run(context.Background(), sending)
	cancel()
	<-attackDone

	var failed []hostile.Delivery
	for _, d := range ds {
		if !d.OK() {
			failed = append(failed, d)
		}
		if got.ids[d.ID] == 0 {
			t.Errorf("delivery %d lost (first try: %d %v, %d attempts)", d.ID, d.Status, d.Err, d.Attempts)
		}
	}
	t.Logf("valid: %d sent, %d failed at the first try; p50 %s, p99 %s", len(ds), len(failed), hostile.Percentile(ds, 50), hostile.Percentile(ds, 99))
	t.Logf("attack: idle %d conns/%d 401s, slowloris %d conns, bogus %d handshakes, wrong keys %d 401s (%d errors, last %v)",
		attack.Idle.Conns.Load(), attack.Idle.Requests.Load(), attack.Slow.Conns.Load(), attack.Bogus.Requests.Load(),
		attack.Wrong.Requests.Load(), attack.Wrong.Errors.Load(), attack.Wrong.LastErr.Load())
	if len(ds) < int(sending.Seconds())*20 {
		t.Errorf("only %d deliveries sent", len(ds))
	}
	if allowed := len(ds) / 1000; len(failed) > allowed {
		t.Errorf("%d of %d valid deliveries failed at the first try (at most %d allowed), e.g. #%d: status %d, %v",
			len(failed), len(ds), allowed, failed[0].ID, failed[0].Status, failed[0].Err)
	}
	if attack.Bogus.Requests.Load() < 2000 {
		t.Errorf("only %d bogus handshakes sent", attack.Bogus.Requests.Load())
	}
	hs := strings.Count(logs.String(), "TLS handshake error")
	t.Logf("log: %d lines about failed TLS handshakes, %d lines in all; metrics:\n%s", hs, strings.Count(logs.String(), "\n"), gatherText(t, port))
	if limit := int(time.Since(started).Seconds()) + 3; hs > limit {
		t.Errorf("%d log lines about failed handshakes, want at most %d (one a second)", hs, limit)
	}
}
