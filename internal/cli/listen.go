package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/metrics"
	"github.com/keyroll/keyroll/listener"
	"github.com/keyroll/keyroll/listener/vaultsource"
	"github.com/keyroll/keyroll/vault"
)

// Timeouts of `keyroll listen`; the webhook port's own are listener.Port's.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminTimeout           = 30 * time.Second
	listenShutdownTimeout  = 10 * time.Second
	listenFirstLoadTimeout = 15 * time.Second
)

type listenFlags struct {
	common
	addr    string
	tlsCert string
	tlsKey  string
	target  string
	plain   bool // no TLS flags: plain HTTP on a loopback address
	// upstream is where --upstream forwards verified deliveries (nil: answer them here).
	upstream    *url.URL
	upstreamArg string
	adminAddr   string
	allowFrom   string
	allowed     []netip.Prefix // parsed --allow-from; nil: every source
	trustXFF    bool
	maxConns    int
	perSource   int
	profile     string // --cpu-profile (hidden)
}

// runListen runs the reference webhook listener: HTTPS (or plain HTTP on a loopback
// address only) on --addr, X-WEBHOOK-KEY verified against the accept set of one target's
// Vault document, DigiCert's events answered 200 and logged, /healthz and /metrics beside
// them without the key check. It stops gracefully when ctx ends.
func runListen(ctx context.Context, env *Env, f *listenFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	defer tuneGC(env)()
	if f.profile != "" {
		stop, err := startCPUProfile(f.profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	t, err := listenTarget(cfg, f.target)
	if err != nil {
		return err
	}
	log := env.Log.With().Str("target", t.Name).Logger()
	tlsConfig, err := f.tlsConfig(log)
	if err != nil {
		return err
	}
	sess, err := login(ctx, env, cfg.Vault)
	if err != nil {
		return err
	}
	// The session and the key set outlive ctx until the server has shut down, so that
	// requests still in flight can be verified.
	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()
	go sess.KeepAlive(bg)
	// The verifier retries a failed read itself, within Refresh; the client's own retries
	// (seconds of backoff) would hold a refresh back after Vault returns.
	sess.Client().SetMaxRetries(0)
	v, err := startVerifier(ctx, bg, env, cfg, t, sess)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	port := f.port(log)
	if err := f.serveAdmin(ctx, v, port, log); err != nil {
		return err
	}
	logListening(log, ln, tlsConfig == nil, t, cfg.Listener.Refresh.D(), v)
	if err := serve(ctx, port.Server(f.hooks(v, log), tlsConfig), port.Listener(ln), listenShutdownTimeout, log); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	st := v.Stats()
	log.Info().Interface("accepted", roleCounts(st)).Interface("rejected", reasonCounts(st)).Msg("stopped")
	return nil
}

// listenCmd is `keyroll listen`.
func listenCmd(env *Env) *cobra.Command {
	f := &listenFlags{}
	c := &cobra.Command{
		Use:   "listen",
		Short: "Run a reference webhook listener",
		Long: "Run the reference webhook listener: HTTPS on --addr (plain HTTP on a loopback address\n" +
			"only), X-WEBHOOK-KEY checked in constant time against the accept set of one target's\n" +
			"Vault document, DigiCert's events answered 200 and logged (or forwarded to --upstream).\n" +
			"/healthz and /metrics are served on --admin-addr only. It drains and stops on SIGTERM.",
		Example: "  keyroll listen --addr :8443 --tls-cert tls.crt --tls-key tls.key\n" +
			"  keyroll listen --addr :8443 --tls-cert tls.crt --tls-key tls.key --upstream http://127.0.0.1:8080",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runListen(c.Context(), env, f) },
	}
	fs := c.Flags()
	f.register(fs)
	fs.StringVar(&f.addr, "addr", "", "address to listen on, e.g. :8443 (required)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (PEM, chain included); without it, plain HTTP on a loopback address only")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&f.target, "target", "", "the target whose keys to accept (default: the only configured target)")
	fs.StringVar(&f.upstreamArg, "upstream", "", "forward verified deliveries to this http(s) URL (a sidecar for a receiver in any language)")
	fs.StringVar(&f.adminAddr, "admin-addr", "", "serve /healthz and /metrics on this address (plain HTTP); never on the webhook port (default: not served)")
	fs.StringVar(&f.allowFrom, "allow-from", "", "accept connections only from these sources: CIDR prefixes or addresses, comma-separated (checked at accept)")
	fs.BoolVar(&f.trustXFF, "trust-forwarded-for", false, "with --allow-from, take the source from the last X-Forwarded-For address (only behind a proxy that sets it); the check moves from accept time to each request")
	fs.IntVar(&f.maxConns, "max-conns", listener.DefaultMaxConns, "most connections the webhook port holds open at once (idle keep-alives are closed to make room)")
	fs.IntVar(&f.perSource, "max-conns-per-source", listener.DefaultMaxConnsPerSource, "most connections one source address (IPv6: /64) holds open; -1: no bound (behind a proxy)")
	fs.StringVar(&f.profile, "cpu-profile", "", "write a CPU profile of the listener to `file` until it stops")
	_ = fs.MarkHidden("cpu-profile")
	return c
}

// check checks --addr, the TLS flags and the other values of the flags.
func (f *listenFlags) check() error {
	plain, err := f.checkAddr()
	if err != nil {
		return err
	}
	f.plain = plain
	if f.upstream, err = parseUpstream(f.upstreamArg); err != nil {
		return err
	}
	if f.allowFrom != "" {
		if f.allowed, err = listener.ParseCIDRs(f.allowFrom); err != nil {
			return fmt.Errorf("%w: listen: --allow-from: %v", ErrUsage, err)
		}
	} else if f.trustXFF {
		return fmt.Errorf("%w: listen: --trust-forwarded-for needs --allow-from", ErrUsage)
	}
	if f.maxConns < 1 {
		return fmt.Errorf("%w: listen: --max-conns must be at least 1", ErrUsage)
	}
	if f.perSource == 0 || f.perSource < -1 {
		return fmt.Errorf("%w: listen: --max-conns-per-source must be at least 1, or -1 for no bound", ErrUsage)
	}
	return nil
}

// tlsConfig returns the server's TLS settings, nil for plain HTTP.
func (f *listenFlags) tlsConfig(log zerolog.Logger) (*tls.Config, error) {
	if f.plain {
		return nil, nil
	}
	certs, err := listener.NewCertReloader(f.tlsCert, f.tlsKey, log)
	if err != nil {
		return nil, fmt.Errorf("%w: listen: %v", ErrUsage, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}, nil
}

// startVerifier builds the verifier of target t, loads its key set once (bounded by
// listenFirstLoadTimeout) and keeps it fresh until bg ends.
func startVerifier(ctx, bg context.Context, env *Env, cfg *config.Config, t config.Target, sess *vault.Session) (*listener.Verifier, error) {
	lc := cfg.Listener // Validate made sure max_staleness > refresh
	v, err := listener.New(listener.Config{
		Source:       vaultsource.New(vault.NewStore(sess.Client(), cfg.Vault.KVMount)),
		Path:         t.VaultPath,
		Target:       t.Name,
		Refresh:      lc.Refresh.D(),
		MaxStaleness: lc.MaxStaleness.D(),
		Log:          env.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	first, cancelFirst := context.WithTimeout(ctx, listenFirstLoadTimeout)
	err = v.Load(first)
	cancelFirst()
	switch {
	case errors.Is(err, vault.ErrPermissionDenied):
		// A policy that does not let the listener read the document will not fix itself.
		return nil, fmt.Errorf("listen: target %s: %w", t.Name, err)
	case err != nil:
		env.Log.Warn().Str("target", t.Name).Err(err).Msg("key set not loaded yet: rejecting deliveries until it is")
	}
	go v.Run(bg)
	return v, nil
}

// port is the guard of the webhook port: --max-conns, --max-conns-per-source, and
// --allow-from at accept time unless the source comes from X-Forwarded-For.
func (f *listenFlags) port(log zerolog.Logger) *listener.Port {
	cfg := listener.PortConfig{MaxConns: f.maxConns, MaxConnsPerSource: f.perSource, Log: log}
	if !f.trustXFF {
		cfg.AllowFrom = f.allowed
	}
	return listener.NewPort(cfg)
}

// hooks is the webhook port's handler: every path behind the key check (answered here,
// or forwarded to upstream) and, with --trust-forwarded-for, behind --allow-from.
func (f *listenFlags) hooks(v *listener.Verifier, log zerolog.Logger) http.Handler {
	h := deliveries(v, f.upstream, log)
	if f.allowed != nil && f.trustXFF {
		h = listener.AllowFrom(f.allowed, f.trustXFF, log, h)
	}
	return h
}

// serveAdmin serves /healthz and /metrics on --admin-addr until ctx ends; without it they
// are not served (never on the webhook port, which faces the internet).
func (f *listenFlags) serveAdmin(ctx context.Context, v *listener.Verifier, port *listener.Port, log zerolog.Logger) error {
	if f.adminAddr == "" {
		log.Info().Msg("no --admin-addr: /healthz and /metrics are not served")
		return nil
	}
	aln, err := net.Listen("tcp", f.adminAddr)
	if err != nil {
		return fmt.Errorf("listen: --admin-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", v.HealthHandler())
	reg := metrics.NewRegistry(Version())
	reg.MustRegister(v, port)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: adminReadHeaderTimeout, ReadTimeout: adminTimeout,
		WriteTimeout: adminTimeout, IdleTimeout: adminTimeout,
		ErrorLog: stdlog.New(warnWriter{log.With().Str("component", "admin").Logger()}, "", 0)}
	log.Info().Str("admin_addr", aln.Addr().String()).Msg("serving /healthz and /metrics")
	go func() {
		if err := serve(ctx, srv, aln, listenShutdownTimeout, log); err != nil {
			log.Error().Err(err).Msg("admin server stopped")
		}
	}()
	return nil
}

func logListening(log zerolog.Logger, ln net.Listener, plain bool, t config.Target, refresh time.Duration, v *listener.Verifier) {
	scheme := "https"
	if plain {
		scheme = "http"
		log.Warn().Msg("plain HTTP on a loopback address: put a TLS-terminating proxy in front, DigiCert only delivers to https:// endpoints")
	}
	log.Info().Str("addr", ln.Addr().String()).Str("scheme", scheme).Str("vault_path", t.VaultPath).
		Dur("refresh", refresh).Dur("max_staleness", v.Status().MaxStaleness).Msg("listening")
}

// checkAddr validates --addr and the TLS flags and reports whether to serve plain HTTP.
func (f *listenFlags) checkAddr() (plain bool, err error) {
	if f.addr == "" {
		return false, fmt.Errorf("%w: listen: --addr is required", ErrUsage)
	}
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return false, fmt.Errorf("%w: listen: --addr %q: %v", ErrUsage, f.addr, err)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return false, fmt.Errorf("%w: listen: --tls-cert and --tls-key go together", ErrUsage)
	}
	if f.tlsCert != "" {
		return false, nil
	}
	if !isLoopbackHost(host) {
		return false, fmt.Errorf("%w: listen: refusing plain HTTP on %q, which is not a loopback address: give --tls-cert and --tls-key", ErrUsage, f.addr)
	}
	return true, nil
}

// isLoopbackHost reports whether host (from host:port) names only the loopback interface.
// An empty host means every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenTarget returns the webhook target named name, or the only webhook target when
// name is empty. An api_key target has no listeners: nobody sends its key to keyroll.
func listenTarget(cfg *config.Config, name string) (config.Target, error) {
	if name != "" {
		t, ok := cfg.Target(name)
		if !ok {
			return config.Target{}, fmt.Errorf("%w: listen: --target %s: not in the configuration", ErrUsage, name)
		}
		if t.IsAPIKey() {
			return config.Target{}, fmt.Errorf("%w: listen: --target %s: kind api_key: nobody listens for an API key", ErrUsage, name)
		}
		return t, nil
	}
	var hooks []config.Target
	var names []string
	for _, t := range cfg.Targets {
		if !t.IsAPIKey() {
			hooks, names = append(hooks, t), append(names, t.Name)
		}
	}
	if len(hooks) != 1 {
		return config.Target{}, fmt.Errorf("%w: listen: %d webhook targets configured (%s): choose one with --target", ErrUsage, len(names), strings.Join(names, ", "))
	}
	return hooks[0], nil
}

func roleCounts(st listener.Stats) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range st.Accepted {
		m[r.String()] = n
	}
	return m
}

func reasonCounts(st listener.Stats) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range st.Rejected {
		m[r.String()] = n
	}
	return m
}

// warnWriter turns the http.Server's error log (TLS handshake failures and the like)
// into warnings.
type warnWriter struct{ log zerolog.Logger }

func (w warnWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// The listener's garbage collector settings (unless GOGC or GOMEMLIMIT say otherwise). Its
// live heap (the Vault client, metrics) is large next to what a delivery allocates, so at
// Go's default GOGC=100 the collector took about a fifth of the sidecar's CPU; at 400 the
// sidecar needs less CPU per delivery than a bare httputil.ReverseProxy
// (docs/listener-port.md). The soft limit keeps the heap within a 64 MiB container.
const (
	listenGCPercent  = 400
	listenSoftMemory = 40 << 20
)

// tuneGC applies the listener's GC settings and returns what restores the previous ones.
func tuneGC(env *Env) (restore func()) {
	gc, mem := -2, int64(-1)
	if _, set := env.LookupEnv("GOGC"); !set {
		gc = debug.SetGCPercent(listenGCPercent)
	}
	if _, set := env.LookupEnv("GOMEMLIMIT"); !set {
		mem = debug.SetMemoryLimit(listenSoftMemory)
	}
	return func() {
		if gc != -2 {
			debug.SetGCPercent(gc)
		}
		if mem >= 0 {
			debug.SetMemoryLimit(mem)
		}
	}
}
