package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keyroll/keyroll/internal/hostile"
)

// reviewerCmd is the security review's attack: conns keep-alive connections, each idle
// after one 401, then one valid delivery, timed.
func reviewerCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", "", "the webhook port, host:port (TLS)")
	key := fs.String("key", "", "a valid X-WEBHOOK-KEY")
	conns := fs.Int("conns", 256, "idle keep-alive connections to open")
	path := fs.String("path", "/", "delivery path")
	hold := fs.Duration("hold", 0, "keep the connections open this long after the valid delivery (for a curl of one's own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t := hostile.Target{Addr: *addr, TLSConfig: &tls.Config{InsecureSkipVerify: true}, Path: *path, ValidKey: *key}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	closedAfter401 := 0
	for i := 0; i < *conns; i++ {
		c, closed, err := idleAfter401(ctx, t)
		if err != nil {
			fmt.Printf("connection %d: %v\n", i+1, err)
			break
		}
		if closed {
			closedAfter401++
		}
		held = append(held, c)
	}
	fmt.Printf("attack: %d connections opened, each after one 401; %d closed by the port after the 401\n", len(held), closedAfter401)
	client := t.Client(net.IPv4(127, 0, 0, 1), 1)
	client.Timeout = 10 * time.Second
	s := &hostile.Sender{Target: t, Client: client, Rate: 1}
	d := s.Run(ctx, time.Second)[0]
	fmt.Printf("valid delivery: status %d, %.3f s, error: %v\n", d.Status, d.Latency.Seconds(), d.Err)
	if *hold > 0 {
		fmt.Printf("holding the connections for %s\n", *hold)
		pause(ctx, *hold)
	}
	return nil
}

// idleAfter401 opens a TLS connection, sends one delivery with a wrong key, reads the
// 401 and reports whether the port then closed the connection (within 200 ms).
func idleAfter401(ctx context.Context, t hostile.Target) (net.Conn, bool, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: t.TLSConfig}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, false, err
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-WEBHOOK-KEY: wrong-key\r\nContent-Length: 2\r\n\r\n{}", t.Path)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return c, false, fmt.Errorf("reading the answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = br.ReadByte()
	_ = c.SetReadDeadline(time.Time{})
	return c, err == io.EOF, nil
}

// handshakesCmd sends n bogus TLS handshakes.
func handshakesCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", "", "the webhook port, host:port (TLS)")
	n := fs.Int("n", 2000, "bogus handshakes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := &hostile.Attack{Target: hostile.Target{Addr: *addr}, BogusHandshakes: *n}
	a.Run(ctx)
	fmt.Printf("bogus handshakes: %d sent\n", a.Bogus.Requests.Load())
	return nil
}

// countLines counts the lines of s containing sub.
func countLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
