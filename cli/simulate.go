package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
)

// runSimulate serves the CertCentral simulator for demos and local trials: one seeded
// account (or --accounts N of them) whose webhook points at --endpoint
// (--webhooks-per-account M seeds M webhooks on each, for fleet benchmarks on one API key). Besides the API
// under /services/v2 it answers POST /_sim/deliver?api_key=K&event=E (deliver an event with
// the webhook's current secret), GET /_sim/stats and GET /_sim/deliveries[?failed=1] (the
// delivery log without the keys).
func runSimulate(ctx context.Context, env *Env, args []string) error {
	var (
		c          common
		addr       string
		apiKey     string
		accounts   int
		perAccount int
		endpoint   string
		events     string
		latency    time.Duration
		hideSecret bool
		allowHTTP  bool
		caFile     string
	)
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.StringVar(&c.logFormat, "log-format", "", "json or console")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&addr, "addr", "127.0.0.1:8444", "address to listen on")
	fs.StringVar(&apiKey, "api-key", "", "API key of the seeded account (default: random); with --accounts N, keys are KEY-1 … KEY-N")
	fs.IntVar(&accounts, "accounts", 1, "number of seeded accounts, each with one webhook")
	fs.IntVar(&perAccount, "webhooks-per-account", 1, "webhooks seeded on each account (DigiCert has one; more let one API key serve a fleet in load tests; targets then need webhook_id)")
	fs.StringVar(&endpoint, "endpoint", "https://127.0.0.1:8443/webhook", "endpoint of the seeded webhooks")
	fs.StringVar(&events, "events", "certificate_issued,certificate_revoked,order_rejected", "comma-separated event subscriptions")
	fs.DurationVar(&latency, "latency", 0, "latency added to every API request")
	fs.BoolVar(&hideSecret, "hide-secret", false, "never return secret in GET /webhook")
	fs.BoolVar(&allowHTTP, "allow-http-endpoints", false, "accept http:// webhook endpoints (demos on loopback)")
	fs.StringVar(&caFile, "ca-file", "", "PEM file of CAs to trust when delivering to the endpoint")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := c.setup(env); err != nil {
		return err
	}
	if accounts < 1 {
		return fmt.Errorf("%w: --accounts must be at least 1", ErrUsage)
	}
	if perAccount < 1 {
		return fmt.Errorf("%w: --webhooks-per-account must be at least 1", ErrUsage)
	}
	opts := []certcentraltest.Option{certcentraltest.WithLatency(latency), certcentraltest.WithHideSecret(hideSecret)}
	if allowHTTP {
		opts = append(opts, certcentraltest.AllowHTTPEndpoints())
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("%w: --ca-file: %v", ErrUsage, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: --ca-file %s: no PEM certificates", ErrUsage, caFile)
		}
		opts = append(opts, certcentraltest.WithRootCAs(pool))
	}
	sim := certcentraltest.New(opts...)
	if apiKey == "" {
		k, err := keyset.Generate(32)
		if err != nil {
			return err
		}
		apiKey = "sim-" + k
	}
	var evs []string
	for _, e := range strings.Split(events, ",") {
		if e = strings.TrimSpace(e); e != "" {
			evs = append(evs, e)
		}
	}
	keys := []string{apiKey}
	if accounts > 1 {
		keys = keys[:0]
		for i := 1; i <= accounts; i++ {
			keys = append(keys, fmt.Sprintf("%s-%d", apiKey, i))
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("simulate: listen %s: %w", addr, err)
	}
	base := "http://" + ln.Addr().String() + certcentraltest.BasePath
	fmt.Fprintf(env.Stdout, "simulator url=%s accounts=%d\n", base, len(keys))
	for _, k := range keys {
		acct := sim.AddAccount(k)
		var ids []int
		var fp string
		for range perAccount {
			secret, err := keyset.Generate(48)
			if err != nil {
				return err
			}
			ids = append(ids, acct.AddWebhook(certcentraltest.Webhook{Endpoint: endpoint, Secret: secret, Events: evs, Status: certcentraltest.StatusActive}))
			fp = keyset.Fingerprint(secret)
		}
		switch {
		case len(keys) > 10:
		case perAccount == 1:
			fmt.Fprintf(env.Stdout, "account api_key=%s webhook_id=%d endpoint=%s secret=%s\n", k, ids[0], endpoint, fp)
		default:
			fmt.Fprintf(env.Stdout, "account api_key=%s webhook_ids=%d-%d webhooks=%d endpoint=%s\n", k, ids[0], ids[len(ids)-1], len(ids), endpoint)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/", sim.Handler())
	mux.HandleFunc("POST /_sim/deliver", func(w http.ResponseWriter, r *http.Request) {
		acct := sim.Account(r.URL.Query().Get("api_key"))
		if acct == nil {
			http.Error(w, "unknown api_key", http.StatusNotFound)
			return
		}
		event := r.URL.Query().Get("event")
		if event == "" {
			event = "certificate_issued"
		}
		status, err := acct.Deliver(r.Context(), event, map[string]any{"order_id": 12345, "certificate_id": 23456})
		w.Header().Set("Content-Type", "application/json")
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"event": event, "listener_status": status, "error": msg})
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sim.Stats())
	})
	mux.HandleFunc("GET /_sim/deliveries", func(w http.ResponseWriter, r *http.Request) {
		type delivery struct { // without the key: only whether one was sent
			Time     time.Time `json:"time"`
			Event    string    `json:"event"`
			Endpoint string    `json:"endpoint"`
			KeySent  bool      `json:"key_sent"`
			Status   int       `json:"status"`
			Error    string    `json:"error,omitempty"`
		}
		failedOnly := r.URL.Query().Get("failed") != ""
		out := []delivery{}
		for _, d := range sim.Deliveries() {
			if !failedOnly || d.Err != "" {
				out = append(out, delivery{d.Time, d.Event, d.Endpoint, d.KeySent, d.Status, d.Err})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	env.Log.Info().Str("addr", ln.Addr().String()).Str("url", base).Int("accounts", len(keys)).Msg("listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("simulate: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("simulate: shutdown: %w", err)
	}
	sim.Close()
	return nil
}
