package listener

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of PortConfig: the numbers and why are in docs/listener-port.md.
const (
	// DefaultMaxConns is the most connections a Port holds open at once.
	DefaultMaxConns = 256
	// DefaultMaxConnsPerSource is the most connections one source address (one /64 for
	// IPv6) holds open at once; at the bound, a source's new connection replaces its own
	// longest-idle one, or is refused when none is idle.
	DefaultMaxConnsPerSource = 32
	// PortReadHeaderTimeout bounds the TLS handshake and the reading of a request's
	// headers: a slowloris client is cut off after it.
	PortReadHeaderTimeout = 5 * time.Second
	// PortReadTimeout bounds the reading of a whole request, body included.
	PortReadTimeout = 15 * time.Second
	// PortWriteTimeout bounds the handling of a request and the writing of its answer.
	PortWriteTimeout = 30 * time.Second
	// PortIdleTimeout is how long a keep-alive connection may wait for its next request.
	PortIdleTimeout = 30 * time.Second
	// PortMaxHeaderBytes bounds a request's headers (net/http adds 4 KiB of slack).
	PortMaxHeaderBytes = 8 << 10
)

// PortConfig configures a Port. The zero value takes every default.
type PortConfig struct {
	// MaxConns bounds the connections held open at once. 0: DefaultMaxConns.
	MaxConns int
	// MaxConnsPerSource bounds the connections of one source address (IPv6: one /64).
	// 0: DefaultMaxConnsPerSource; negative: no per-source bound (behind a proxy, where
	// every connection comes from the proxy).
	MaxConnsPerSource int
	// AllowFrom, when not empty, is the only sources whose connections are accepted: any
	// other is closed as soon as it is accepted, before a TLS handshake or a byte is read.
	AllowFrom []netip.Prefix
	// Log receives the rate-limited lines about refused connections and the server's
	// errors (failed TLS handshakes, malformed requests).
	Log zerolog.Logger
	// LogEvery is the least time between two such lines of one kind; the ones in between
	// are counted in the next line and in keyroll_listener_log_lines_suppressed_total.
	// 0: DefaultLogEvery.
	LogEvery time.Duration
}

// Port guards a public webhook port, the one DigiCert delivers to and anyone on the
// internet can reach. Wrap the port's net.Listener with Listener and serve it with the
// http.Server from Server:
//
//   - a connection from a source outside PortConfig.AllowFrom is closed as soon as it is
//     accepted; so is one over its source's MaxConnsPerSource, unless the source has an
//     idle keep-alive connection, which is closed instead;
//   - at MaxConns, the longest-idle keep-alive connection (else the oldest one that has
//     not yet sent a whole request) is closed to make room, so that a full port still
//     takes new connections; only when every connection is busy with a request does
//     Accept wait;
//   - the server's timeouts are short (a handshake and headers within
//     PortReadHeaderTimeout, idle keep-alives closed after PortIdleTimeout) and its
//     error log (failed handshakes and the like) is rate-limited and counted.
//
// Middleware closes the connection after a 401, and AllowFrom after a 403, so a rejected
// client cannot keep its connection for another try.
//
// A Port is a prometheus.Collector of its connection counters.
type Port struct {
	maxConns, perSource int
	allowed             []netip.Prefix
	log                 zerolog.Logger

	mu       sync.Mutex
	cond     *sync.Cond
	open     map[*portConn]struct{}
	bySource map[netip.Addr]int
	closed   bool

	refusedLog *rateLog
	stats      portCounters
}

// NewPort returns a Port for cfg.
func NewPort(cfg PortConfig) *Port {
	p := &Port{
		maxConns:  cfg.MaxConns,
		perSource: cfg.MaxConnsPerSource,
		allowed:   cfg.AllowFrom,
		log:       cfg.Log,
		open:      map[*portConn]struct{}{},
		bySource:  map[netip.Addr]int{},
	}
	if p.maxConns <= 0 {
		p.maxConns = DefaultMaxConns
	}
	if p.perSource == 0 {
		p.perSource = DefaultMaxConnsPerSource
	}
	p.cond = sync.NewCond(&p.mu)
	p.refusedLog = newRateLog(cfg.LogEvery, time.Now)
	for i := range p.stats.serverErrorsLogs {
		p.stats.serverErrorsLogs[i] = newRateLog(cfg.LogEvery, time.Now)
	}
	return p
}

// Server returns an http.Server for the port with h as its handler, tlsConfig (nil: plain
// HTTP) and the Port's timeouts, connection tracking and rate-limited error log. Serve it
// on a listener wrapped by Listener, with ServeTLS when tlsConfig is set.
func (p *Port) Server(h http.Handler, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: PortReadHeaderTimeout,
		ReadTimeout:       PortReadTimeout,
		WriteTimeout:      PortWriteTimeout,
		IdleTimeout:       PortIdleTimeout,
		MaxHeaderBytes:    PortMaxHeaderBytes,
		ConnState:         p.connState,
		ErrorLog:          p.errorLog(),
	}
}

// Listener wraps ln, the port's TCP listener, with the Port's accept-time checks and
// connection bound.
func (p *Port) Listener(ln net.Listener) net.Listener {
	return &portListener{Listener: ln, p: p}
}

// OpenConns returns the number of connections open now.
func (p *Port) OpenConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}

type portListener struct {
	net.Listener
	p *Port
}

// Accept returns the next connection that passes the checks, closing the others.
func (l *portListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		pc, err := l.p.admit(c)
		if err != nil {
			return nil, err
		}
		if pc != nil {
			return pc, nil
		}
	}
}

// Close closes the listener and lets a waiting Accept return.
func (l *portListener) Close() error {
	err := l.Listener.Close()
	l.p.mu.Lock()
	l.p.closed = true
	l.p.cond.Broadcast()
	l.p.mu.Unlock()
	return err
}

// admit checks c at accept time: nil (and c closed) when it is refused; it waits for
// room under MaxConns, making it by closing an idle connection when there is one.
func (p *Port) admit(c net.Conn) (*portConn, error) {
	ip := remoteIP(c.RemoteAddr())
	if len(p.allowed) > 0 && !allowedAddr(p.allowed, ip) {
		p.refuse(c, ip, refusedNotAllowed)
		return nil, nil
	}
	src := sourceKey(ip)
	pc, err := p.register(c, src)
	if err == errSourceLimit {
		p.refuse(c, ip, refusedSourceLimit)
		return nil, nil
	}
	return pc, err
}

var errSourceLimit = errors.New("listener: source over its connection limit")

// register counts c in, once there is room for it.
func (p *Port) register(c net.Conn, src netip.Addr) (*portConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.perSource > 0 && p.bySource[src] >= p.perSource && !p.closed {
		// A source at its bound makes room by losing its own longest-idle connection.
		v := p.victim(func(c *portConn) bool { return c.src == src && c.state == http.StateIdle })
		if v == nil {
			return nil, errSourceLimit
		}
		p.shed(v)
	}
	for len(p.open) >= p.maxConns && !p.closed {
		if v := p.victim(nil); v != nil {
			p.shed(v)
			continue
		}
		p.cond.Wait()
	}
	if p.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	pc := &portConn{Conn: c, p: p, src: src, state: http.StateNew, since: time.Now()}
	p.open[pc] = struct{}{}
	p.bySource[src]++
	return pc, nil
}

// victim is the connection to close to make room, among those eligible (nil: all): the
// longest-idle keep-alive one, else the oldest one still waiting for its first request.
// Called with p.mu held.
func (p *Port) victim(eligible func(*portConn) bool) *portConn {
	var idle, fresh *portConn
	for c := range p.open {
		if c.shed || (eligible != nil && !eligible(c)) {
			continue
		}
		switch c.state {
		case http.StateIdle:
			if idle == nil || c.since.Before(idle.since) {
				idle = c
			}
		case http.StateNew:
			if fresh == nil || c.since.Before(fresh.since) {
				fresh = c
			}
		}
	}
	if idle != nil {
		return idle
	}
	return fresh
}

// shed closes v to make room and waits until it is released. Called with p.mu held.
func (p *Port) shed(v *portConn) {
	v.shed = true
	if v.state == http.StateIdle {
		p.stats.shedIdle.Add(1)
	} else {
		p.stats.shedNew.Add(1)
	}
	go v.Close() // Close takes p.mu to release v
	for _, open := p.open[v]; open; _, open = p.open[v] {
		p.cond.Wait()
	}
}

// refuse closes c, counts it and logs it (rate-limited).
func (p *Port) refuse(c net.Conn, src netip.Addr, why refusal) {
	_ = c.Close()
	p.stats.refused[why].Add(1)
	if ev := p.refusedLog.event(&p.log, zerolog.WarnLevel); ev != nil {
		ev.Str("source", src.String()).Str("reason", why.String()).Msg("connection refused at accept")
	}
}

// connState follows the server's view of each connection (new, active, idle).
func (p *Port) connState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	pc, ok := c.(*portConn)
	if !ok {
		return
	}
	p.mu.Lock()
	pc.state, pc.since = st, time.Now()
	p.mu.Unlock()
}

// release forgets pc, closed.
func (p *Port) release(pc *portConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.open[pc]; !ok {
		return
	}
	delete(p.open, pc)
	if p.bySource[pc.src]--; p.bySource[pc.src] <= 0 {
		delete(p.bySource, pc.src)
	}
	p.cond.Signal()
}

// portConn is a connection a Port admitted.
type portConn struct {
	net.Conn
	p    *Port
	src  netip.Addr
	once sync.Once
	// guarded by p.mu
	state http.ConnState
	since time.Time
	shed  bool
}

func (c *portConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.p.release(c) })
	return err
}

// remoteIP is the IP address of a connection's peer.
func remoteIP(a net.Addr) netip.Addr {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	return ip.Unmap()
}

// sourceKey is the address a source's connections are counted under: its IP, or its /64
// for IPv6 (one host commonly holds a whole /64).
func sourceKey(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

func allowedAddr(allowed []netip.Prefix, a netip.Addr) bool {
	for _, p := range allowed {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}
