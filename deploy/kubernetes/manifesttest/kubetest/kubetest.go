// Package kubetest runs a real Kubernetes API server for keyroll's tests: etcd and
// kube-apiserver on loopback, with a generated CA and serving certificate, a service
// account signing key, a static admin token and RBAC. There is no kubelet, scheduler or
// controller manager: objects are validated, defaulted, admitted (Pod Security included)
// and stored, and service account tokens are issued and reviewed, but nothing runs.
//
// The binaries come from $KEYROLL_KUBE_APISERVER_BIN (scripts/tool-bin.sh kube-apiserver)
// and $KEYROLL_ETCD_BIN (default: etcd on PATH, Debian's etcd-server package). Without
// them, tests that need a cluster skip, except when CI=true, where they fail.
package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
)

// Environment variables naming the binaries.
const (
	EnvAPIServer = "KEYROLL_KUBE_APISERVER_BIN"
	EnvEtcd      = "KEYROLL_ETCD_BIN"
)

// Issuer is the service account token issuer of the test cluster.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// Cluster is a running API server and its etcd.
type Cluster struct {
	URL        string // https://127.0.0.1:PORT
	CAPEM      []byte // the CA of the serving certificate
	AdminToken string // bearer token of a system:masters user
	Issuer     string // the "iss" of its service account tokens

	signingKey *ecdsa.PrivateKey
	keyID      string
	procs      []*proc
}

type proc struct {
	*testenv.Proc
	logs *syncbuf.Buffer
}

// binary returns the path in env (or def looked up on PATH), or skips t (fails it when
// CI=true).
func binary(t testing.TB, env, def, how string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" && def != "" {
		bin, _ = exec.LookPath(def)
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Kubernetes tests (%s)", env, how)
		}
		t.Skipf("%s is not set: %s", env, how)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubetest: %s: %v", env, err)
	}
	return bin
}

// Start starts etcd and the API server for t, waits until the API server is ready and
// stops both when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	apiserver := binary(t, EnvAPIServer, "", "make test sets it with scripts/tool-bin.sh kube-apiserver")
	etcd := binary(t, EnvEtcd, "etcd", "install Debian's etcd-server package (make test does)")
	dir := t.TempDir()
	c := &Cluster{Issuer: Issuer}
	t.Cleanup(c.stop)
	if err := c.start(dir, apiserver, etcd); err != nil {
		t.Fatalf("kubetest: %v\n%s", err, c.logs())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubetest logs (tail):\n%s", c.logs())
		}
	})
	return c
}

func (c *Cluster) start(dir, apiserverBin, etcdBin string) error {
	ports, err := testenv.FreePorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if err := c.run("etcd", etcdBin,
		"--name=kubetest", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL, "--log-level=warn",
	); err != nil {
		return err
	}
	if err := c.writeFiles(dir); err != nil {
		return err
	}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	if err := c.run("kube-apiserver", apiserverBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"), "--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--client-ca-file="+filepath.Join(dir, "ca.crt"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer="+c.Issuer,
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--v=0",
	); err != nil {
		return err
	}
	return c.waitReady(3 * time.Minute)
}

// writeFiles generates the CA, the serving certificate, the service account signing key
// and the admin token.
func (c *Cluster) writeFiles(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubetest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	c.signingKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&c.signingKey.PublicKey)
	if err != nil {
		return err
	}
	// The key ID the API server puts in its tokens' headers: the base64url SHA-256 of the
	// public key's DER (k8s.io/kubernetes/pkg/serviceaccount keyIDFromPublicKey).
	sum := sha256.Sum256(pubDER)
	c.keyID = base64.RawURLEncoding.EncodeToString(sum[:])
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	c.AdminToken = "admin-" + hex.EncodeToString(tok)
	c.CAPEM = pemBlock("CERTIFICATE", caDER)
	files := map[string][]byte{
		"ca.crt":      c.CAPEM,
		"serving.crt": pemBlock("CERTIFICATE", srvDER),
		"serving.key": mustECKey(srvKey),
		"sa.key":      mustECKey(c.signingKey),
		"sa.pub":      pemBlock("PUBLIC KEY", pubDER),
		"tokens.csv":  []byte(c.AdminToken + `,kubetest-admin,kubetest-admin,"system:masters"` + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustECKey(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func (c *Cluster) run(name, bin string, args ...string) error {
	logs := &syncbuf.Buffer{Limit: 4 << 20}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	p, err := testenv.StartProc(name, cmd)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, &proc{Proc: p, logs: logs})
	return nil
}

func (c *Cluster) waitReady(limit time.Duration) error {
	hc := c.HTTPClient(c.AdminToken)
	deadline := time.Now().Add(limit)
	var last string
	for {
		for _, p := range c.procs {
			select {
			case <-p.Done():
				return fmt.Errorf("%s exited before the API server was ready", p.Name)
			default:
			}
		}
		resp, err := hc.Get(c.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("API server not ready after %s: %s", limit, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// HTTPClient returns a client that trusts the cluster's CA and sends token (if not "") as
// its bearer token.
func (c *Cluster) HTTPClient(token string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM)
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	if token != "" {
		rt = bearer{token: token, next: rt}
	}
	return &http.Client{Transport: rt, Timeout: 30 * time.Second}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// Resign returns token (a JWT the cluster issued) with its claims changed by edit and
// signed again with the cluster's service account signing key, as the API server would
// have issued it: e.g. a token whose expiry has passed, which TokenRequest cannot issue.
func (c *Cluster) Resign(token string, edit func(claims map[string]any)) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("kubetest: not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("kubetest: token payload: %w", err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("kubetest: token claims: %w", err)
	}
	edit(claims)
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "ES256", "kid": c.keyID}) + "." + enc(claims)
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, c.signingKey, h[:])
	if err != nil {
		return "", err
	}
	raw := make([]byte, 64) // JWS ES256: r || s
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(raw), nil
}

func (c *Cluster) logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		l := p.logs.String()
		if len(l) > 8000 {
			l = "…" + l[len(l)-8000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", p.Name, l)
	}
	return b.String()
}

// stop stops the API server, then etcd.
func (c *Cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(15 * time.Second)
	}
	c.procs = nil
}
