package certcentral_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/rotate"
)

// TestKeysRotator drives rotate's KeysAPI port against the simulator: describe the
// current key, create a successor, prove it, list both, revoke (twice) and see it refused.
func TestKeysRotator(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []certcentraltest.Option
	}{
		{"defaults", nil},
		{"re-revoke is an error", []certcentraltest.Option{certcentraltest.WithRerevokeError(true)}},
		{"revoked keys vanish", []certcentraltest.Option{certcentraltest.WithHideRevokedKeys(true)}},
		{"dates with Z, last use by the day", []certcentraltest.Option{certcentraltest.WithKeyDateLayout(time.RFC3339),
			certcentraltest.WithLastUsedPrecision(certcentraltest.LastUsedDay)}},
		{"php json", []certcentraltest.Option{certcentraltest.WithPHPStyleJSON(true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			api := certcentral.KeysRotator{Client: e.client(t)}
			user, cur := e.acct.UserID(), e.acct.KeyID()
			k, err := api.Key(ctx(t), cur)
			must(t, err)
			if k.ID != cur || k.UserID != user || !k.Active || k.Status != "active" || k.RoleID != 0 || !k.Created.Equal(t0) || k.LastUsed.IsZero() || k.Name != certcentraltest.DefaultKeyName {
				t.Errorf("Key = %+v", k)
			}
			name := "keyroll prod-us/é 20250301T120000Z-ab12"
			created, err := api.CreateKey(ctx(t), user, name, 0)
			must(t, err)
			if want, _ := e.acct.APIKey(created.ID); created.Key != want || created.Name != name || created.UserID != user || !created.Active {
				t.Fatalf("CreateKey = %v", created)
			}
			if s := fmt.Sprintf("%v %+v %#v %s %q", created, created, created, created, created); strings.Contains(s, created.Key) {
				t.Errorf("a created key formats with the key: %s", s)
			}
			e.clock.Advance(time.Minute)
			got, err := api.Authenticate(ctx(t), created.Key, created.ID)
			must(t, err)
			if got.ID != created.ID || got.Name != name || got.LastUsed.IsZero() {
				t.Errorf("Authenticate = %+v", got)
			}
			keys, err := api.Keys(ctx(t), user)
			must(t, err)
			if len(keys) != 2 || keys[0].ID != cur || keys[1].ID != created.ID {
				t.Errorf("Keys = %+v", keys)
			}
			for range 2 {
				must(t, api.Revoke(ctx(t), created.ID))
			}
			_, err = api.Authenticate(ctx(t), created.Key, created.ID)
			if !errors.Is(record(err), rotate.ErrKeyRejected) || strings.Contains(err.Error(), created.Key) {
				t.Errorf("Authenticate with a revoked key: %v", err)
			}
			if s, ok := e.acct.Key(created.ID); !ok || s.Status != certcentraltest.KeyRevoked {
				t.Errorf("simulator's key: %+v", s)
			}
		})
	}
}

// TestKeysRotatorErrors: a key the issuer refuses, a role that may not manage keys and a
// missing key, as rotate sees them.
func TestKeysRotatorErrors(t *testing.T) {
	e := newEnv(t)
	api := certcentral.KeysRotator{Client: e.client(t)}
	_, err := api.Authenticate(ctx(t), "unknown-key-5f3c9a1b7e-unknown", e.acct.KeyID())
	if !errors.Is(record(err), rotate.ErrKeyRejected) || certcentral.IsRetryable(err) {
		t.Errorf("unknown key: %v", err)
	}
	var st interface{ HTTPStatus() int }
	var cd interface{ EvidenceCode() string }
	if !errors.As(err, &st) || st.HTTPStatus() != 401 || !errors.As(err, &cd) || cd.EvidenceCode() != "digicert_credentials_rejected" {
		t.Errorf("unknown key: status/code of %v", err)
	}
	_, viewOnly, _ := e.acct.AddKey(certcentraltest.NewKey{APIKey: "view-only-5f3c9a1b7e-key", RoleID: certcentraltest.RoleViewOnly})
	vo, err := e.client(t).WithAPIKey(viewOnly)
	must(t, err)
	_, err = certcentral.KeysRotator{Client: vo}.CreateKey(ctx(t), e.acct.UserID(), "keyroll x r", 0)
	if !errors.Is(record(err), rotate.ErrKeyRejected) || !certcentral.IsCredentialsRejected(err) {
		t.Errorf("view only creates: %v", err)
	}
	_, err = api.Key(ctx(t), 999999)
	apiError(t, err, 404, certcentral.CodeKeyNotFound)
	if errors.Is(err, rotate.ErrKeyRejected) {
		t.Errorf("404 is not a rejected key")
	}
	if err := api.Revoke(ctx(t), 999999); err != nil {
		t.Errorf("revoking a key that is not there: %v", record(err))
	}
	_, err = api.CreateKey(ctx(t), 424242, "keyroll x r", 0)
	apiError(t, err, 404, certcentral.CodeUserNotFound)
}

// TestCreateKeyNotReplayed: a create whose answer is lost is not sent again (that could
// make two keys); a 429 is.
func TestCreateKeyNotReplayed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*certcentraltest.Server)
		posts  int
		ok     bool
	}{
		{"dropped answer", func(s *certcentraltest.Server) { s.LoseNextKeyCreate(0) }, 1, false},
		{"502 after create", func(s *certcentraltest.Server) { s.LoseNextKeyCreate(502) }, 1, false},
		{"503 before create", func(s *certcentraltest.Server) {
			s.Inject(certcentraltest.Fault{Method: "POST", Path: "/key/user/*", Status: 503})
		}, 1, false},
		{"429 is retried", func(s *certcentraltest.Server) { s.Burst429(1, 0) }, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.inject(e.sim)
			c := e.client(t)
			path := "/key/user/" + strconv.Itoa(e.acct.UserID())
			ck, err := c.CreateKey(ctx(t), e.acct.UserID(), "keyroll t r1", certcentraltest.RoleViewOnly)
			if (err == nil) != tc.ok {
				t.Fatalf("CreateKey: %v", record(err))
			}
			if err != nil && (!certcentral.IsRetryable(record(err)) || strings.Contains(err.Error(), "gave up")) {
				t.Errorf("error %v: want retryable, not retried", err)
			}
			if n := len(e.sim.RequestsTo(http.MethodPost, path)); n != tc.posts {
				t.Errorf("%d POSTs, want %d", n, tc.posts)
			}
			keys, lerr := c.ListKeys(ctx(t), e.acct.UserID())
			must(t, lerr)
			if tc.ok && (len(keys) != 2 || keys[1].ID != ck.ID || keys[1].RoleID != certcentraltest.RoleViewOnly) {
				t.Errorf("keys %+v", keys)
			}
		})
	}
}

func TestAccessRoles(t *testing.T) {
	e := newEnv(t)
	roles, err := e.client(t).AccessRoles(ctx(t))
	must(t, err)
	if fmt.Sprint(roles) != "[{100 Orders} {101 Orders, Domains, Organizations} {102 View Only}]" {
		t.Errorf("roles %v", roles)
	}
}

// TestKeyCallsRetried: reading keys and setting a status are safe to repeat, so a 5xx or a
// lost answer is retried.
func TestKeyCallsRetried(t *testing.T) {
	e := newEnv(t)
	api := certcentral.KeysRotator{Client: e.client(t)}
	id, _, err := e.acct.AddKey(certcentraltest.NewKey{Name: "victim"})
	must(t, err)
	p := "/key/" + strconv.Itoa(id)
	e.sim.Inject(certcentraltest.Fault{Method: "GET", Path: p, Status: 503})
	if _, err := api.Key(ctx(t), id); err != nil || len(e.sim.RequestsTo("GET", p)) != 2 {
		t.Errorf("Key after a 503: %v, %d requests", record(err), len(e.sim.RequestsTo("GET", p)))
	}
	e.sim.Inject(certcentraltest.Fault{Method: "GET", Path: "/key", Status: 502})
	if ks, err := api.Keys(ctx(t), e.acct.UserID()); err != nil || len(ks) != 2 {
		t.Errorf("Keys after a 502: %v %v", ks, record(err))
	}
	e.sim.DropNextResponse("PUT", p+"/status")
	if err := api.Revoke(ctx(t), id); err != nil || len(e.sim.RequestsTo("PUT", p+"/status")) != 2 {
		t.Errorf("Revoke after a lost answer: %v", record(err))
	}
}
