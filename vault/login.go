package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"github.com/rs/zerolog"
)

// ErrNoToken is returned for token auth when neither VAULT_TOKEN nor token_file gives one.
var ErrNoToken = errors.New("no Vault token: set VAULT_TOKEN or vault.auth.token_file")

// Auth methods.
const (
	AuthToken      = "token"
	AuthKubernetes = "kubernetes"
	AuthAppRole    = "approle"
)

// Options say where Vault is and how to log in.
type Options struct {
	// Address is Vault's URL. Settings beyond it (TLS, namespace) come from the standard
	// VAULT_* environment variables, which Vault's API client reads itself.
	Address string
	Auth    Auth
}

// Auth selects a login method and holds its fields.
type Auth struct {
	// Method is AuthToken (also ""), AuthKubernetes or AuthAppRole.
	Method string
	// Token is the token for AuthToken when TokenFile is empty (the caller reads it from
	// VAULT_TOKEN); TokenFile is read again at every login.
	Token     string
	TokenFile string
	// Role is the kubernetes auth role; Mount the auth mount of either method ("": the
	// method's default); ServiceAccountTokenFile overrides the pod's token path.
	Role                    string
	Mount                   string
	ServiceAccountTokenFile string
	// RoleID and SecretIDFile are the approle credentials.
	RoleID       string
	SecretIDFile string
}

// Session is a logged-in Vault client whose token is kept alive: renewed while Vault allows
// it, and replaced by a fresh login when renewal ends.
type Session struct {
	opts   Options
	client *api.Client
	log    zerolog.Logger

	mu       sync.Mutex
	auth     *api.Secret // the login's auth secret (nil for a plain token with no lookup)
	loggedIn time.Time
	identity string // from the login, for Identity
}

// NewClient returns a Vault API client for o's address without logging in.
func NewClient(o Options) (*api.Client, error) {
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault: client config: %w", ac.Error)
	}
	ac.Address = o.Address
	ac.MaxRetries = 2
	if tr, ok := ac.HttpClient.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = 64 // a fleet's rotations talk to Vault at once
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: new client for %s: %w", o.Address, err)
	}
	c.ClearToken()
	return c, nil
}

// Login returns a Session logged in with the method o.Auth names.
func Login(ctx context.Context, o Options, log zerolog.Logger) (*Session, error) {
	c, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	s := &Session{opts: o, client: c, log: log}
	if err := s.login(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Client returns the session's Vault API client. Its token changes on re-login.
func (s *Session) Client() *api.Client { return s.client }

func (s *Session) login(ctx context.Context) error {
	a := s.opts.Auth
	var (
		sec      *api.Secret
		err      error
		identity string
	)
	switch a.Method {
	case AuthToken, "":
		var tok string
		tok, err = readToken(a)
		if err != nil {
			return &Error{Op: "login", Kind: ErrPermissionDenied, Err: err}
		}
		s.client.SetToken(tok)
		var lookup *api.Secret
		lookup, err = s.client.Auth().Token().LookupSelfWithContext(ctx)
		if err == nil {
			sec = tokenSecret(tok, lookup)
			identity = identityOf(lookup.Data)
		}
	case AuthKubernetes:
		var opts []kubernetes.LoginOption
		if a.Mount != "" {
			opts = append(opts, kubernetes.WithMountPath(a.Mount))
		}
		if a.ServiceAccountTokenFile != "" {
			opts = append(opts, kubernetes.WithServiceAccountTokenPath(a.ServiceAccountTokenFile))
		}
		var k *kubernetes.KubernetesAuth
		k, err = kubernetes.NewKubernetesAuth(a.Role, opts...)
		if err == nil {
			sec, err = s.client.Auth().Login(ctx, k)
		}
	case AuthAppRole:
		var opts []approle.LoginOption
		if a.Mount != "" {
			opts = append(opts, approle.WithMountPath(a.Mount))
		}
		var ar *approle.AppRoleAuth
		ar, err = approle.NewAppRoleAuth(a.RoleID, &approle.SecretID{FromFile: a.SecretIDFile}, opts...)
		if err == nil {
			sec, err = s.client.Auth().Login(ctx, ar)
		}
	default:
		return &Error{Op: "login", Err: fmt.Errorf("unknown auth method %q", a.Method)}
	}
	if err != nil {
		kind := classify(err)
		if kind == nil && a.Method != AuthToken {
			kind = ErrPermissionDenied
		}
		return &Error{Op: "login " + methodName(a.Method), Kind: kind, Err: err}
	}
	if identity == "" && sec != nil && sec.Auth != nil {
		identity = identityOf(map[string]any{"entity_id": sec.Auth.EntityID, "accessor": sec.Auth.Accessor})
	}
	s.mu.Lock()
	s.auth = sec
	s.identity = identity
	s.loggedIn = time.Now()
	s.mu.Unlock()
	return nil
}

func methodName(m string) string {
	if m == "" {
		return AuthToken
	}
	return m
}

func readToken(a Auth) (string, error) {
	if file := a.TokenFile; file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read token_file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("token_file %s is empty", file)
	}
	if t := strings.TrimSpace(a.Token); t != "" {
		return t, nil
	}
	return "", ErrNoToken
}

// tokenSecret turns a token lookup into the auth secret a LifetimeWatcher renews.
func tokenSecret(tok string, lookup *api.Secret) *api.Secret {
	renewable, _ := lookup.TokenIsRenewable()
	ttl, _ := lookup.TokenTTL()
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken:   tok,
		Renewable:     renewable,
		LeaseDuration: int(ttl / time.Second),
	}}
}

// KeepAlive renews the session's token until ctx ends. When the token can no longer be
// renewed (max TTL reached, not renewable, revoked), it logs in again; failed logins are
// retried with backoff. Run it in its own goroutine.
func (s *Session) KeepAlive(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		s.mu.Lock()
		sec := s.auth
		s.mu.Unlock()
		if sec != nil && sec.Auth != nil && sec.Auth.LeaseDuration > 0 {
			s.watch(ctx, sec)
		} else if sec != nil && sec.Auth != nil {
			// A token without TTL (root, or periodic with none): nothing to renew.
			<-ctx.Done()
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err := s.login(ctx); err != nil {
			s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("vault re-login failed")
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = time.Second
		s.log.Info().Str("method", methodName(s.opts.Auth.Method)).Msg("vault re-login")
	}
}

// watch renews sec until renewal ends or ctx is done.
func (s *Session) watch(ctx context.Context, sec *api.Secret) {
	w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		s.log.Warn().Err(err).Msg("vault token watcher")
		return
	}
	go w.Start()
	defer w.Stop()
	// Vault reports TTLs in whole seconds and the watcher renews at ~70% of the reported
	// TTL, so a short-lived token (TTL of a few seconds) can expire before a renewal shows
	// the max-TTL cap. Log in again if no renewal comes in time (see safetyWindow).
	safety := time.NewTimer(safetyWindow(sec.Auth.LeaseDuration))
	defer safety.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-safety.C:
			s.log.Info().Msg("vault token renewal overdue: logging in again")
			return
		case err := <-w.DoneCh():
			if err != nil {
				s.log.Warn().Err(err).Msg("vault token renewal ended")
			} else {
				s.log.Info().Msg("vault token reached its max TTL")
			}
			return
		case r := <-w.RenewCh():
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				ttl := r.Secret.Auth.LeaseDuration
				s.log.Debug().Int("ttl_seconds", ttl).Msg("vault token renewed")
				safety.Reset(safetyWindow(ttl))
				if ttl < sec.Auth.LeaseDuration {
					// The renewal was capped by the token's max TTL: log in again now,
					// while the old token still has its remainder to cover the switch.
					s.log.Info().Int("ttl_seconds", ttl).Msg("vault token near its max TTL")
					return
				}
			}
		}
	}
}

// Ensure logs in again when the token has less than minTTL left (or cannot be looked up).
// Long-running commands call it before each unit of work as a second line of defence.
func (s *Session) Ensure(ctx context.Context, minTTL time.Duration) error {
	sec, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil {
		ttl, _ := sec.TokenTTL()
		if ttl == 0 || ttl >= minTTL {
			return nil
		}
	} else if k := classify(err); k == ErrUnavailable {
		return &Error{Op: "token lookup", Kind: k, Err: err}
	}
	return s.login(ctx)
}

// Identity names the logged-in principal without revealing the token: "entity:<id>" when
// the token has a Vault entity, else "accessor:<accessor>", with the display name where
// known. It comes from the login; when that told nothing, the token is looked up, and ""
// is returned if that fails.
func (s *Session) Identity(ctx context.Context) string {
	s.mu.Lock()
	id := s.identity
	s.mu.Unlock()
	if id != "" {
		return id
	}
	sec, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil || sec == nil || sec.Data == nil {
		return ""
	}
	return identityOf(sec.Data)
}

// identityOf formats a token lookup's (or login's) entity, accessor and display name.
func identityOf(data map[string]any) string {
	str := func(k string) string { v, _ := data[k].(string); return v }
	if str("accessor") == "" && str("entity_id") == "" {
		return ""
	}
	id := "accessor:" + str("accessor")
	if e := str("entity_id"); e != "" {
		id = "entity:" + e
	}
	if n := str("display_name"); n != "" {
		id += " (" + n + ")"
	}
	return id
}

// safetyWindow is how long watch waits for the next renewal of a token whose last
// reported TTL was ttlSeconds before it logs in again: the TTL less a margin for Vault's
// whole-second rounding (1s, or a quarter for long TTLs, which the watcher's renewal at
// ~70% of the TTL always beats), but at least half the TTL.
func safetyWindow(ttlSeconds int) time.Duration {
	ttl := time.Duration(ttlSeconds) * time.Second
	return max(ttl-max(time.Second, ttl/4), ttl/2)
}
