// Package tsatest runs a local RFC 3161 Time-Stamp Authority for tests: Debian's
// `openssl ts -reply` behind an HTTP server on 127.0.0.1, with its own root and TSA
// certificate made by `openssl req`/`openssl x509`. Neither the tokens nor the certificates
// come from keyroll's code, so they check keyroll's verification independently.
//
// openssl comes from Debian's openssl package (scripts/test.sh installs it when missing and
// running as root). Without it, tests skip, except with CI=true, where they fail.
package tsatest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TSA is a running local Time-Stamp Authority.
type TSA struct {
	URL    string // http://127.0.0.1:PORT/
	CAFile string // the PEM of its root, for --tsa-ca
	Name   string // its certificate's common name
	dir    string
	srv    *httptest.Server
	mu     sync.Mutex
	down   atomic.Bool
	count  atomic.Int64
}

// OpenSSL returns the openssl binary, or skips t (fails it when CI=true).
func OpenSSL(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl not found: CI must run the timestamp tests (apt-get install openssl)")
		}
		t.Skip("openssl not found: apt-get install openssl for the timestamp tests")
	}
	return bin
}

// New starts a TSA named name and stops it when t ends.
func New(t testing.TB, name string) *TSA {
	t.Helper()
	a, err := Start(OpenSSL(t), t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// Start starts a TSA named name with the openssl binary bin, keeping its keys in dir (a
// directory of its own). Close stops it.
func Start(bin, dir, name string) (*TSA, error) {
	a := &TSA{dir: dir, Name: name + " TSA"}
	run := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Dir = a.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("tsatest: openssl %v: %v\n%s", args, err, out)
		}
		return nil
	}
	files := map[string]string{
		"ext.cnf": "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
		"serial":  "01\n",
		"tsa.cnf": fmt.Sprintf(tsaConfig, a.dir),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(a.dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	ec := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}
	for _, args := range [][]string{
		append(append([]string{"req", "-x509"}, ec...), "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", "/CN="+name+" Test Root"),
		append(append([]string{"req"}, ec...), "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN="+a.Name),
		{"x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt", "-days", "3650", "-extfile", "ext.cnf"},
	} {
		if err := run(args...); err != nil {
			return nil, err
		}
	}
	a.CAFile = filepath.Join(a.dir, "ca.crt")
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(bin, w, r) }))
	a.URL = a.srv.URL + "/"
	return a, nil
}

const tsaConfig = `[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = %s
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.2.3
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`

// serve answers one TimeStampReq with `openssl ts -reply`, or 503 while down.
func (a *TSA) serve(bin string, w http.ResponseWriter, r *http.Request) {
	a.count.Add(1)
	if a.down.Load() || r.Method != http.MethodPost {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	q, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	a.mu.Lock() // openssl ts -reply increments the serial file
	defer a.mu.Unlock()
	cmd := exec.Command(bin, "ts", "-reply", "-config", filepath.Join(a.dir, "tsa.cnf"), "-queryfile", "/dev/stdin", "-out", "/dev/stdout")
	cmd.Stdin = bytes.NewReader(q)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		http.Error(w, "openssl ts -reply: "+err.Error()+": "+errb.String(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(out.Bytes())
}

// Close stops the TSA's server.
func (a *TSA) Close() { a.srv.Close() }

// SetDown makes the TSA answer 503 (true) or serve again (false).
func (a *TSA) SetDown(down bool) { a.down.Store(down) }

// Requests returns how many requests the TSA got.
func (a *TSA) Requests() int64 { return a.count.Load() }
