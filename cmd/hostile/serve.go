package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
)

// staticSource is a key document held in memory.
type staticSource struct{ doc keyset.Document }

func (s staticSource) Read(context.Context, string) (listener.Versioned, error) {
	return listener.Versioned{Doc: s.doc, Version: 1}, nil
}

// serveCmd serves a webhook port on 127.0.0.1 until ctx ends, printing its address on
// stdout: -kind guarded is listener.Port and Middleware; -kind bare a net/http server with
// no limit and no timeout that checks the key itself.
func serveCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	kind := fs.String("kind", "guarded", "guarded or bare")
	certFile := fs.String("cert", "", "TLS certificate file")
	keyFile := fs.String("tls-key", "", "TLS key file")
	key := fs.String("key", "", "the valid X-WEBHOOK-KEY")
	logTo := fs.String("log", "", "log file (default: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok\n")
	})
	var srv *http.Server
	if *kind == "bare" {
		srv = &http.Server{Handler: bareCheck(*key, ok), TLSConfig: tlsConfig}
		if *logTo != "" {
			f, err := os.Create(*logTo)
			if err != nil {
				return err
			}
			srv.ErrorLog = stdlog.New(f, "", stdlog.LstdFlags)
		}
	} else {
		if srv, ln, err = guarded(ctx, *key, *logTo, ok, tlsConfig, ln); err != nil {
			return err
		}
	}
	fmt.Println(ln.Addr().String())
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ServeTLS(ln, "", ""); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func guarded(ctx context.Context, key, logTo string, h http.Handler, tlsConfig *tls.Config, ln net.Listener) (*http.Server, net.Listener, error) {
	log := zerolog.Nop()
	if logTo != "" {
		f, err := os.Create(logTo)
		if err != nil {
			return nil, nil, err
		}
		log = zerolog.New(f)
	}
	v, err := listener.New(listener.Config{Source: staticSource{keyset.Document{Current: key, CurrentSince: time.Now()}},
		Path: "bench", Target: "bench", Refresh: 30 * time.Second, Log: log})
	if err != nil {
		return nil, nil, err
	}
	if err := v.Load(ctx); err != nil {
		return nil, nil, err
	}
	go v.Run(ctx)
	p := listener.NewPort(listener.PortConfig{Log: log})
	return p.Server(v.Middleware(h), tlsConfig), p.Listener(ln), nil
}

// bareCheck answers 401 unless X-WEBHOOK-KEY is key.
func bareCheck(key string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-WEBHOOK-KEY")), []byte(key)) != 1 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(dir string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hostile"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}
