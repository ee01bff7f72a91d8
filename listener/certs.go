package listener

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// CertCheckInterval is how often a CertReloader looks for changed files.
const CertCheckInterval = time.Minute

// CertReloader serves a TLS certificate from a certificate file and a key file (PEM) and
// loads it again when either file changes (cert-manager and the like renew them in
// place), checking at most once every CertCheckInterval, during a handshake. A failed
// reload keeps the certificate in use and logs an error. Use GetCertificate as
// tls.Config.GetCertificate.
type CertReloader struct {
	certFile, keyFile string
	log               zerolog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	modTimes  [2]time.Time
	lastCheck time.Time
}

// NewCertReloader loads the certificate of certFile and keyFile, or returns why it cannot.
func NewCertReloader(certFile, keyFile string, log zerolog.Logger) (*CertReloader, error) {
	c := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CertReloader) load() error {
	var mt [2]time.Time
	for i, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("TLS file: %w", err)
		}
		mt[i] = st.ModTime()
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.modTimes, c.lastCheck = &cert, mt, c.now()
	return nil
}

// GetCertificate returns the certificate, reloaded first when a file changed since the
// last check and CertCheckInterval has passed.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now().Sub(c.lastCheck) < CertCheckInterval {
		return c.cert, nil
	}
	c.lastCheck = c.now()
	changed := false
	for i, f := range []string{c.certFile, c.keyFile} {
		if st, err := os.Stat(f); err == nil && !st.ModTime().Equal(c.modTimes[i]) {
			changed = true
		}
	}
	if changed {
		if err := c.load(); err != nil {
			c.log.Error().Err(err).Msg("TLS certificate not reloaded: serving the previous one")
		} else {
			c.log.Info().Msg("TLS certificate reloaded")
		}
	}
	return c.cert, nil
}
