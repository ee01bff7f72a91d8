package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
)

// simulateFlags are the flags of `keyroll simulate`.
type simulateFlags struct {
	common
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
	keyRole    int
	keyDelay   time.Duration
	usedByDay  bool
}

// runSimulate serves the CertCentral simulator for demos and local trials: one seeded
// account (or --accounts N of them) whose webhook points at --endpoint
// (--webhooks-per-account M seeds M webhooks on each, for fleet benchmarks on one API key). Besides the API
// under /services/v2 it serves the simulator's control API under /_sim/
// (certcentraltest.Server.ControlHandler).
func runSimulate(ctx context.Context, env *Env, f *simulateFlags) error {
	if err := f.check(env); err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	sim := certcentraltest.New(opts...)
	defer sim.Close()
	keys, err := f.apiKeys()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("simulate: listen %s: %w", f.addr, err)
	}
	base := "http://" + ln.Addr().String() + certcentraltest.BasePath
	fmt.Fprintf(env.Stdout, "simulator url=%s accounts=%d\n", base, len(keys))
	if err := f.seed(env.Stdout, sim, keys); err != nil {
		ln.Close()
		return err
	}
	env.Log.Info().Str("addr", ln.Addr().String()).Str("url", base).Int("accounts", len(keys)).Msg("listening")
	srv := &http.Server{Handler: sim.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	if err := serve(ctx, srv, ln, 5*time.Second, env.Log); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	return nil
}

// simulateCmd is `keyroll simulate`.
func simulateCmd(env *Env) *cobra.Command {
	f := &simulateFlags{}
	c := &cobra.Command{
		Use:   "simulate",
		Short: "Run the CertCentral simulator",
		Long: "Serve the CertCentral simulator for demos and local trials: seeded accounts whose webhook\n" +
			"points at --endpoint. Besides the API under /services/v2 it answers\n" +
			"POST /_sim/deliver?api_key=K&event=E, GET /_sim/stats, GET /_sim/deliveries[?failed=1] and\n" +
			"GET /_sim/keys[?api_key=K][&status=active] (the API keys, never the keys themselves).\n" +
			"Each account line names its API key's key_id and user_id (for api_key.key_id).",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runSimulate(c.Context(), env, f) },
	}
	fs := c.Flags()
	f.registerLog(fs)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8444", "address to listen on")
	fs.StringVar(&f.apiKey, "api-key", "", "API key of the seeded account (default: random); with --accounts N, keys are KEY-1 … KEY-N")
	fs.IntVar(&f.accounts, "accounts", 1, "number of seeded accounts, each with one webhook")
	fs.IntVar(&f.perAccount, "webhooks-per-account", 1, "webhooks seeded on each account (DigiCert has one; more let one API key serve a fleet in load tests; targets then need webhook_id)")
	fs.StringVar(&f.endpoint, "endpoint", "https://127.0.0.1:8443/webhook", "endpoint of the seeded webhooks")
	fs.StringVar(&f.events, "events", "certificate_issued,certificate_revoked,order_rejected", "comma-separated event subscriptions")
	fs.DurationVar(&f.latency, "latency", 0, "latency added to every API request")
	fs.BoolVar(&f.hideSecret, "hide-secret", false, "never return secret in GET /webhook")
	fs.BoolVar(&f.allowHTTP, "allow-http-endpoints", false, "accept http:// webhook endpoints (demos on loopback)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of CAs to trust when delivering to the endpoint")
	fs.IntVar(&f.keyRole, "key-role", 0, "restrict the seeded API keys to this access role (100 Orders, 101 Orders, Domains, Organizations, 102 View Only; 0: none)")
	fs.DurationVar(&f.keyDelay, "new-key-delay", 0, "a key created through the API works only after this delay (assumption A6)")
	fs.BoolVar(&f.usedByDay, "last-used-by-day", false, "record last_used_date by the day, not the second (assumption A7)")
	return c
}

// check sets up logging and checks the counts.
func (f *simulateFlags) check(env *Env) error {
	if err := f.setup(env); err != nil {
		return err
	}
	if f.accounts < 1 {
		return fmt.Errorf("%w: --accounts must be at least 1", ErrUsage)
	}
	if f.perAccount < 1 {
		return fmt.Errorf("%w: --webhooks-per-account must be at least 1", ErrUsage)
	}
	if f.keyRole != 0 && !slices.ContainsFunc(certcentraltest.AccessRoles, func(r certcentraltest.Role) bool { return r.ID == f.keyRole }) {
		return fmt.Errorf("%w: --key-role %d is not an access role (100, 101, 102) or 0", ErrUsage, f.keyRole)
	}
	if f.keyDelay < 0 {
		return fmt.Errorf("%w: --new-key-delay must not be negative", ErrUsage)
	}
	return nil
}

// options are the simulator's options the flags ask for.
func (f *simulateFlags) options() ([]certcentraltest.Option, error) {
	opts := []certcentraltest.Option{certcentraltest.WithLatency(f.latency), certcentraltest.WithHideSecret(f.hideSecret),
		certcentraltest.WithNewKeyDelay(f.keyDelay)}
	if f.usedByDay {
		opts = append(opts, certcentraltest.WithLastUsedPrecision(certcentraltest.LastUsedDay))
	}
	if f.allowHTTP {
		opts = append(opts, certcentraltest.AllowHTTPEndpoints())
	}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --ca-file: %v", ErrUsage, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --ca-file %s: no PEM certificates", ErrUsage, f.caFile)
		}
		opts = append(opts, certcentraltest.WithRootCAs(pool))
	}
	return opts, nil
}

// apiKeys are the API keys of the seeded accounts: --api-key (random by default), or
// KEY-1 … KEY-N with --accounts N.
func (f *simulateFlags) apiKeys() ([]string, error) {
	apiKey := f.apiKey
	if apiKey == "" {
		k, err := keyset.Generate(32)
		if err != nil {
			return nil, err
		}
		apiKey = "sim-" + k
	}
	if f.accounts == 1 {
		return []string{apiKey}, nil
	}
	keys := make([]string, 0, f.accounts)
	for i := 1; i <= f.accounts; i++ {
		keys = append(keys, fmt.Sprintf("%s-%d", apiKey, i))
	}
	return keys, nil
}

// seed adds one account per key with its webhooks and prints them (without secrets).
func (f *simulateFlags) seed(w io.Writer, sim *certcentraltest.Server, keys []string) error {
	var evs []string
	for _, e := range strings.Split(f.events, ",") {
		if e = strings.TrimSpace(e); e != "" {
			evs = append(evs, e)
		}
	}
	for _, k := range keys {
		acct := sim.AddAccount(k)
		if err := acct.SetKeyRole(acct.KeyID(), f.keyRole); err != nil {
			return err
		}
		var ids []int
		var fp string
		for range f.perAccount {
			secret, err := keyset.Generate(48)
			if err != nil {
				return err
			}
			ids = append(ids, acct.AddWebhook(certcentraltest.Webhook{Endpoint: f.endpoint, Secret: secret, Events: evs, Status: certcentraltest.StatusActive}))
			fp = keyset.Fingerprint(secret)
		}
		switch {
		case len(keys) > 10:
		case f.perAccount == 1:
			fmt.Fprintf(w, "account api_key=%s webhook_id=%d endpoint=%s secret=%s key_id=%d user_id=%d\n", k, ids[0], f.endpoint, fp, acct.KeyID(), acct.UserID())
		default:
			fmt.Fprintf(w, "account api_key=%s webhook_ids=%d-%d webhooks=%d endpoint=%s key_id=%d user_id=%d\n", k, ids[0], ids[len(ids)-1], len(ids), f.endpoint, acct.KeyID(), acct.UserID())
		}
	}
	return nil
}
