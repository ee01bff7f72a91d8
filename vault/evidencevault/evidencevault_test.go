package evidencevault_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/vault"
	"github.com/keyroll/keyroll/vault/evidencevault"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSignerSignsAndPublishes: a real Transit key signs, and the public key it publishes
// verifies the signature.
func TestSignerSignsAndPublishes(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	key := "ev-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	srv.TransitKey(t, "transit", key, "ed25519")
	s := evidencevault.NewSigner(srv.Client(t), "transit", key)
	hash := strings.Repeat("ab", 32)
	sig, err := s.Sign(ctx, []byte(hash))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := s.PublicKeysPEM(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := evidence.ParsePublicKeys(pem)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, _, err := evidence.Open(ctx, dir+"/e.jsonl", evidence.Options{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Append(ctx, evidence.Record{RotationID: "r", Target: "t", Trigger: evidence.TriggerManual, Actor: "a",
		StartedAt: time.Now(), FinishedAt: time.Now(), Outcome: evidence.OutcomeSkipped}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := evidence.VerifyFileWith(dir+"/e.jsonl", evidence.VerifyOptions{Keys: keys}); err != nil {
		t.Fatalf("verify with the published key: %v", err)
	}
	if !strings.HasPrefix(sig, "vault:v1:") {
		t.Errorf("signature %q, want vault:v1:…", sig)
	}
}

// gateway forwards to the real Vault at addr, except that it answers Transit sign requests
// with status, echoing the request's headers (the Vault token among them) and body, as a
// misbehaving gateway might.
func gateway(t *testing.T, addr string, status int) *httptest.Server {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/sign/") {
			rp.ServeHTTP(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(status)
		io.WriteString(w, "gateway error for request with headers ")
		for k, v := range r.Header {
			io.WriteString(w, k+": "+strings.Join(v, ",")+"\n")
		}
		w.Write(b)
		io.WriteString(w, strings.Repeat(" padding", 200))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSignerErrorsScrubbedAndClassified: a Transit error that echoes the token is scrubbed
// and capped like every Vault error; 403 needs a human (exit 3), 502 is retryable (exit 1).
func TestSignerErrorsScrubbedAndClassified(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	key := "ev-scrub"
	srv.TransitKey(t, "transit", key, "ed25519")
	for _, tc := range []struct {
		status int
		kind   error
		fk     failure.Kind
	}{
		{http.StatusForbidden, vault.ErrPermissionDenied, failure.NeedsHuman},
		{http.StatusBadGateway, vault.ErrUnavailable, failure.Retryable},
	} {
		gw := gateway(t, srv.Addr, tc.status)
		c := clientAt(t, gw.URL, srv.RootToken)
		_, err := evidencevault.NewSigner(c, "transit", key).Sign(ctx, []byte(strings.Repeat("cd", 32)))
		if err == nil {
			t.Fatalf("%d: Sign succeeded", tc.status)
		}
		msg := err.Error()
		if strings.Contains(msg, srv.RootToken) {
			t.Errorf("%d: the error shows the Vault token", tc.status)
		}
		if len(msg) > vault.MaxDetail+200 {
			t.Errorf("%d: the error is %d bytes, want it capped", tc.status, len(msg))
		}
		if !errors.Is(err, tc.kind) || failure.Of(err) != tc.fk {
			t.Errorf("%d: kind %v (%v), want %v (%v)", tc.status, err, failure.Of(err), tc.kind, tc.fk)
		}
		// Through the evidence file, as a run records: the kind survives.
		f, _, err := evidence.Open(ctx, t.TempDir()+"/e.jsonl", evidence.Options{Signer: evidencevault.NewSigner(c, "transit", key)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Append(ctx, evidence.Record{RotationID: "r", Target: "t", Trigger: evidence.TriggerManual, Actor: "a", Outcome: evidence.OutcomeSkipped})
		f.Close()
		if failure.Of(err) != tc.fk || strings.Contains(err.Error(), srv.RootToken) {
			t.Errorf("%d: Append: kind %v, want %v, and no token", tc.status, failure.Of(err), tc.fk)
		}
	}
	// A real 403: a token without the sign grant.
	srv.Policy(t, "ev-nothing", `path "secret/data/none" { capabilities = ["read"] }`)
	tok := srv.Token(t, time.Hour, "ev-nothing")
	_, err := evidencevault.NewSigner(srv.ClientWithToken(t, tok), "transit", key).Sign(ctx, []byte("x"))
	if failure.Of(err) != failure.NeedsHuman || strings.Contains(err.Error(), tok) {
		t.Errorf("denied Sign = %v (%v), want needs a human and no token", err, failure.Of(err))
	}
}

func clientAt(t *testing.T, addr, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}
