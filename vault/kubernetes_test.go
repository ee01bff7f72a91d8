package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// serviceAccountJWT returns a signed service account token as a pod would have it.
func serviceAccountJWT(t *testing.T, key *ecdsa.PrivateKey, namespace, name string) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(map[string]string{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + namespace + ":" + name,
		"kubernetes.io/serviceaccount/namespace": namespace,
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  "uid-" + name,
	})
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// fakeTokenReview is the Kubernetes API's TokenReview endpoint, which Vault's kubernetes
// auth method asks whether a service account token is valid.
func fakeTokenReview(t *testing.T, valid map[string]string) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		status := map[string]any{"authenticated": false}
		if user, ok := valid[req.Spec.Token]; ok {
			status = map[string]any{"authenticated": true, "user": map[string]any{"username": user, "uid": "uid-" + user[strings.LastIndex(user, ":")+1:]}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "status": status})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLoginKubernetes logs in with Vault's kubernetes auth method, as the CronJob does,
// against the real Vault server and a stand-in for the Kubernetes TokenReview API.
func TestLoginKubernetes(t *testing.T) {
	ctx := context.Background()
	srv := testenv.DevVault(t)
	c := srv.Client(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := serviceAccountJWT(t, key, "keyroll", "keyroll")
	otherNS := serviceAccountJWT(t, key, "default", "keyroll")
	k8s := fakeTokenReview(t, map[string]string{
		good:    "system:serviceaccount:keyroll:keyroll",
		otherNS: "system:serviceaccount:default:keyroll",
	})
	if err := c.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k8s.Certificate().Raw})
	if _, err := c.Logical().Write("auth/kubernetes/config", map[string]any{
		"kubernetes_host": k8s.URL, "kubernetes_ca_cert": string(ca), "token_reviewer_jwt": "reviewer-token",
		"disable_local_ca_jwt": true, "disable_iss_validation": true,
	}); err != nil {
		t.Fatal(err)
	}
	// The policies shipped in deploy/kubernetes/vault, as an operator would install them.
	srv.Policy(t, "keyroll-job", readFile(t, "../deploy/kubernetes/vault/keyroll-job-policy.hcl"))
	srv.Policy(t, "keyroll-listener", readFile(t, "../deploy/kubernetes/vault/keyroll-listener-policy.hcl"))
	if _, err := c.Logical().Write("auth/kubernetes/role/keyroll", map[string]any{
		"bound_service_account_names": "keyroll", "bound_service_account_namespaces": "keyroll",
		"token_policies": "keyroll-job", "token_ttl": "15m",
	}); err != nil {
		t.Fatal(err)
	}

	login := func(jwt string) (*vault.Session, error) {
		f := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(f, []byte(jwt), 0o600); err != nil {
			t.Fatal(err)
		}
		return vault.Login(ctx, vault.Options{Address: srv.Addr, Auth: vault.Auth{
			Method: vault.AuthKubernetes, Role: "keyroll", Mount: "kubernetes", ServiceAccountTokenFile: f,
		}}, zerolog.Nop())
	}
	sess, err := login(good)
	if err != nil {
		t.Fatalf("kubernetes login: %v", err)
	}
	s := vault.NewStore(sess.Client(), "secret")
	if _, err := s.Write(ctx, "keyroll/digicert/prod-us", keyset.Document{Current: strings.Repeat("k", 48)}, 0); err != nil {
		t.Fatalf("write with the job's token: %v", err)
	}
	if err := s.WriteMetadata(ctx, "keyroll/digicert/prod-us", map[string]string{"state": "idle"}); err != nil {
		t.Fatalf("metadata with the job's token: %v", err)
	}
	if id := sess.Identity(ctx); !strings.HasPrefix(id, "entity:") {
		t.Errorf("Identity = %q, want the Vault entity", id)
	}
	if _, err := s.Read(ctx, "keyroll/elsewhere"); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("read outside the policy = %v, want permission denied", err)
	}

	// The listeners' policy reads the document and writes nothing.
	ls := vault.NewStore(srv.ClientWithToken(t, srv.Token(t, 0, "keyroll-listener")), "secret")
	if _, err := ls.Read(ctx, "keyroll/digicert/prod-us"); err != nil {
		t.Errorf("listener policy cannot read: %v", err)
	}
	if _, err := ls.Write(ctx, "keyroll/digicert/prod-us", keyset.Document{}, 1); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("listener policy may write: %v", err)
	}

	_, err = login(otherNS)
	if !errors.Is(err, vault.ErrPermissionDenied) || strings.Contains(err.Error(), otherNS) {
		t.Errorf("login from another namespace = %v, want permission denied without the token", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
