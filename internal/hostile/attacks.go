package hostile

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Attack is the set of attacks run at once against a Target, each from its own source.
type Attack struct {
	Target Target
	// IdleConns is how many keep-alive connections one source holds open, each after one
	// request with a wrong key (the reviewer's attack).
	IdleConns int
	// Slowloris is how many connections one source holds open trickling a request's
	// headers, one byte a second.
	Slowloris int
	// BogusHandshakes is how many connections send bytes that are no TLS handshake.
	BogusHandshakes int
	// WrongKeyWorkers is how many clients post deliveries with a wrong key, back to back.
	WrongKeyWorkers int

	Idle, Slow, Bogus, Wrong Counts
}

// Run runs every attack until ctx ends (the bogus handshakes stop once all are sent)
// and returns when every attacker has stopped.
func (a *Attack) Run(ctx context.Context) {
	var wg sync.WaitGroup
	spawnCtx := func(ctx context.Context, n int, f func(ctx context.Context, i int)) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) { defer wg.Done(); f(ctx, i) }(i)
		}
	}
	spawn := func(n int, f func(ctx context.Context, i int)) { spawnCtx(ctx, n, f) }
	spawn(a.IdleConns, func(ctx context.Context, _ int) { a.idle(ctx, Source(0)) })
	spawn(a.Slowloris, func(ctx context.Context, _ int) { a.slowloris(ctx, Source(1)) })
	const bogusWorkers = 16
	if a.BogusHandshakes > 0 {
		// All of them are sent, even past ctx's end (within a minute).
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		spawnCtx(bctx, bogusWorkers, func(ctx context.Context, i int) {
			n := a.BogusHandshakes / bogusWorkers
			if i < a.BogusHandshakes%bogusWorkers {
				n++
			}
			a.bogus(ctx, Source(2), n)
		})
	}
	spawn(a.WrongKeyWorkers, func(ctx context.Context, _ int) { a.wrongKeys(ctx, Source(3)) })
	wg.Wait()
}

// idle holds one keep-alive connection after a 401, opening another whenever the port
// closes it (after a second, as a patient attacker would).
func (a *Attack) idle(ctx context.Context, src net.IP) {
	for ctx.Err() == nil {
		c, err := a.Target.dialTLS(ctx, src)
		if err == nil {
			a.Idle.Conns.Add(1)
			a.holdAfterRequest(ctx, c)
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
}

// holdAfterRequest sends one request with a wrong key on c, then keeps c open, idle,
// until the port closes it or ctx ends.
func (a *Attack) holdAfterRequest(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	req, err := request(ctx, a.Target, "wrong-key-0123456789abcdef", []byte(`{}`))
	if err != nil || req.Write(c) != nil {
		return
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return
	}
	_ = resp.Body.Close()
	a.Idle.Requests.Add(1)
	_, _ = br.ReadByte() // blocks until the port closes the connection
}

// slowloris trickles a request's headers one byte a second, reconnecting when cut off.
func (a *Attack) slowloris(ctx context.Context, src net.IP) {
	head := []byte("POST " + a.Target.Path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: ")
	for ctx.Err() == nil {
		c, err := a.Target.dialTLS(ctx, src)
		if err == nil {
			a.Slow.Conns.Add(1)
			a.trickle(ctx, c, head)
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
}

func (a *Attack) trickle(ctx context.Context, c net.Conn, head []byte) {
	defer c.Close()
	for i := 0; ctx.Err() == nil; i++ {
		b := byte('a')
		if i < len(head) {
			b = head[i]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
}

// bogus opens n connections that each send a few bytes that are no TLS ClientHello and
// hang up.
func (a *Attack) bogus(ctx context.Context, src net.IP, n int) {
	d := dialer(src)
	for sent := 0; sent < n && ctx.Err() == nil; sent++ {
		c, err := d.DialContext(ctx, "tcp", a.Target.Addr)
		if err != nil {
			sent-- // the port's backlog is full: try again
			pause(ctx, 10*time.Millisecond)
			continue
		}
		a.Bogus.Conns.Add(1)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("\x16\x03\x01\x00\x05hello, not TLS\r\n\r\n"))
		_ = c.Close()
		a.Bogus.Requests.Add(1)
	}
}

// wrongKeys posts deliveries with a wrong key back to back until ctx ends.
func (a *Attack) wrongKeys(ctx context.Context, src net.IP) {
	client := a.Target.Client(src, 1)
	defer client.CloseIdleConnections()
	wrong := Target{Addr: a.Target.Addr, TLSConfig: a.Target.TLSConfig, Path: a.Target.Path, ValidKey: "wrong-key-fedcba9876543210"}
	s := &Sender{Target: wrong, Client: client}
	for ctx.Err() == nil {
		if _, err := s.post(ctx, []byte(`{}`)); err == nil {
			a.Wrong.Requests.Add(1)
		} else {
			a.Wrong.failed(err)
			if !pause(ctx, 10*time.Millisecond) {
				return
			}
		}
	}
}
