package listener

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// writeCert writes a fresh self-signed certificate named cn and its key to the files,
// with modification time mtime, and returns the certificate's DER.
func writeCert(t *testing.T, certFile, keyFile, cn string, mtime time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return der
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	m0 := time.Now().Add(-time.Hour)
	first := writeCert(t, certFile, keyFile, "first", m0)
	c, err := NewCertReloader(certFile, keyFile, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	served := func() string {
		t.Helper()
		cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		switch string(cert.Certificate[0]) {
		case string(first):
			return "first"
		}
		return "other"
	}
	second := writeCert(t, certFile, keyFile, "second", m0.Add(time.Minute))
	if got := served(); got != "first" {
		t.Fatalf("before the check interval: served %s, want first", got)
	}
	now = now.Add(CertCheckInterval)
	cert, _ := c.GetCertificate(&tls.ClientHelloInfo{})
	if string(cert.Certificate[0]) != string(second) {
		t.Fatal("renewed files not reloaded after the check interval")
	}
	// A broken renewal keeps the certificate in use.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(CertCheckInterval)
	cert, _ = c.GetCertificate(&tls.ClientHelloInfo{})
	if string(cert.Certificate[0]) != string(second) {
		t.Fatal("a broken key file replaced the certificate in use")
	}
	if _, err := NewCertReloader(certFile, keyFile, zerolog.Nop()); err == nil {
		t.Fatal("NewCertReloader accepted a broken key file")
	}
}
