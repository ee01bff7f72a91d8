package listener_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyroll/keyroll/internal/hostile"
	"github.com/keyroll/keyroll/listener"
)

// gatherText is c's metrics, one "name{labels} value" a line.
func gatherText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			fmt.Fprintf(&b, "%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), v)
		}
	}
	return b.String()
}

// idleAfter401 opens a keep-alive connection from src to target, sends one delivery with
// a wrong key and returns the connection and whether the port closed it after the 401.
func idleAfter401(t *testing.T, target hostile.Target, src net.IP) (net.Conn, bool) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
	c, err := d.Dial("tcp", target.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-WEBHOOK-KEY: %s\r\nContent-Length: 2\r\n\r\n{}", target.Path, keyOther)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong key: status %d, want 401", resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return c, err == io.EOF
}

// plainPort serves h on a Port of 127.0.0.1 over plain HTTP.
func plainPort(t *testing.T, h http.Handler, cfg listener.PortConfig) (hostile.Target, *listener.Port) {
	t.Helper()
	p := listener.NewPort(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := p.Server(h, nil)
	go func() { _ = srv.Serve(p.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return hostile.Target{Addr: ln.Addr().String(), Path: "/webhook", ValidKey: keyCurrent}, p
}

func post(t *testing.T, target hostile.Target, src net.IP) (int, time.Duration) {
	t.Helper()
	client := target.Client(src, 1)
	defer client.CloseIdleConnections()
	client.Timeout = 5 * time.Second
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target.URL(), strings.NewReader(`{"delivery":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-WEBHOOK-KEY", target.ValidKey)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

func TestPortClosesAfter401(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	target, _ := plainPort(t, s.v.Middleware(&received{ids: map[int]int{}}), listener.PortConfig{})
	c, closed := idleAfter401(t, target, net.IPv4(127, 0, 0, 1))
	defer c.Close()
	if !closed {
		t.Error("the port kept the connection open after a 401")
	}
}

// TestPortReviewerAttack is the security review's attack: as many keep-alive
// connections as the port holds, each idle after one 401, then a valid delivery. With
// the per-source bound off (a port behind a proxy), it is the shedding of idle
// connections at the limit that lets the delivery in.
func TestPortReviewerAttack(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	noClose := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Keep the attackers' connections after the 401, as before the fix.
		rw := &dropConnectionClose{ResponseWriter: w}
		s.v.Middleware(&received{ids: map[int]int{}}).ServeHTTP(rw, r)
	})
	const limit = 8
	target, port := plainPort(t, noClose, listener.PortConfig{MaxConns: limit, MaxConnsPerSource: -1})
	for i := 0; i < limit; i++ {
		c, closed := idleAfter401(t, target, hostile.Source(0))
		defer c.Close()
		if closed {
			t.Fatal("connection closed after the 401 despite the test's handler")
		}
	}
	if n := port.OpenConns(); n != limit {
		t.Fatalf("%d connections open, want %d", n, limit)
	}
	status, took := post(t, target, net.IPv4(127, 0, 0, 1))
	if status != http.StatusOK {
		t.Fatalf("valid delivery with the port full of idle connections: status %d after %s", status, took)
	}
	if !strings.Contains(gatherText(t, port), "keyroll_listener_connections_shed_total{state=idle} 1") {
		t.Errorf("shed connection not counted:\n%s", gatherText(t, port))
	}
}

// dropConnectionClose removes the "Connection: close" Middleware sets.
type dropConnectionClose struct{ http.ResponseWriter }

func (d *dropConnectionClose) WriteHeader(code int) {
	d.Header().Del("Connection")
	d.ResponseWriter.WriteHeader(code)
}

func TestPortPerSourceAndAllowFrom(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	s.load(t)
	h := s.v.Middleware(&received{ids: map[int]int{}})
	allowed := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("127.0.0.2/32")}
	target, port := plainPort(t, h, listener.PortConfig{MaxConnsPerSource: 2, AllowFrom: allowed})
	// Two idle connections from 127.0.0.2 are its share; a third is closed at accept.
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.DialTCP("tcp", &net.TCPAddr{IP: hostile.Source(0)}, tcpAddr(t, target.Addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitOpen(t, port, 2)
	for _, src := range []net.IP{hostile.Source(0), hostile.Source(1)} { // over the limit; not allowed
		c, err := net.DialTCP("tcp", &net.TCPAddr{IP: src}, tcpAddr(t, target.Addr))
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection from %s: read %v, want EOF (closed at accept)", src, err)
		}
		c.Close()
	}
	if status, _ := post(t, target, net.IPv4(127, 0, 0, 1)); status != http.StatusOK {
		t.Errorf("valid delivery from another source: status %d", status)
	}
	m := gatherText(t, port)
	for _, want := range []string{"reason=not_allowed} 1", "reason=source_limit} 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

func tcpAddr(t *testing.T, s string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func waitOpen(t *testing.T, p *listener.Port, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.OpenConns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", p.OpenConns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
