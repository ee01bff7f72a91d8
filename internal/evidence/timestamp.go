package evidence

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"github.com/keyroll/keyroll/internal/redact"
)

// TypeTimestamp is the Record.Type of a timestamp record: an RFC 3161 token from a
// Time-Stamp Authority over the hash of the record just before it.
const TypeTimestamp = "timestamp"

// Timestamp is the "timestamp" member of a timestamp record. It covers the record before
// it (Seq, Hash: that record's seq and hash); Token is the TSA's TimeStampToken (DER CMS
// SignedData, base64), whose message imprint is SHA-256 with the 32 bytes Hash spells in
// hex. Because every record chains to the one before, a token over a head attests every
// record up to it.
type Timestamp struct {
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
	TSA   string `json:"tsa"` // where it came from: the configured URL's scheme and host
	Token string `json:"token"`
}

// Timestamper obtains an RFC 3161 token over a SHA-256 digest.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte) (token []byte, err error)
}

// TSAClient is a Timestamper that asks a Time-Stamp Authority over HTTP (RFC 3161 section
// 3.4). The answer is signed, so plain http is acceptable for this URL.
type TSAClient struct {
	URL    string
	Client *http.Client // nil: a client with a 30-second timeout
}

// Timestamp implements Timestamper: one POST of a TimeStampReq asking for the TSA's
// certificate, with a random nonce, and the token of a granted answer.
func (c TSAClient) Timestamp(ctx context.Context, digest []byte) ([]byte, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	req := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Certificates: true, Nonce: nonce}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("timestamp request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("timestamp request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hc := c.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("timestamp authority: %w", err), c.URL)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("timestamp authority: HTTP %d %v", resp.StatusCode, err)
	}
	ts, err := timestamp.ParseResponse(der)
	if err != nil {
		return nil, fmt.Errorf("timestamp authority: %w", err)
	}
	if !bytes.Equal(ts.HashedMessage, digest) || ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, errors.New("timestamp authority: the token is not for this request (imprint or nonce differs)")
	}
	return ts.RawToken, nil
}

// Timestamp obtains a token over the file's head from o.Timestamper and appends it as a
// timestamp record, unless the last record already is one (nothing is pending). It returns
// how many records the file holds without a timestamp afterwards: 0 on success, the
// pending ones when the TSA fails (the next call covers them all: a token over a head
// attests every record before it).
func (f *File) Timestamp(ctx context.Context, tsa string) (pending int, err error) {
	if f.o.Timestamper == nil {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return 0, fmt.Errorf("evidence: timestamp %s: %w", f.path, ErrClosed)
	}
	var rec Record
	err = f.locked(ctx, func() error {
		t, err := readTail(f.f)
		if err != nil || t.seq == 0 || t.typ == TypeTimestamp {
			return err
		}
		digest, _ := hex.DecodeString(t.hash)
		token, err := f.o.Timestamper.Timestamp(ctx, digest)
		if err != nil {
			pending = f.pending
			return fmt.Errorf("%w: %d record(s) wait for a timestamp: %w", ErrTimestampPending, pending, err)
		}
		now := f.o.Now().UTC()
		rec = Record{Type: TypeTimestamp, Actor: f.o.Actor, StartedAt: now, FinishedAt: now,
			Timestamp: &Timestamp{Seq: t.seq, Hash: t.hash, TSA: tsa, Token: base64.StdEncoding.EncodeToString(token)}}
		return f.writeAfter(ctx, &rec, t)
	})
	if err != nil {
		return pending, fmt.Errorf("evidence: timestamp %s: %w", f.path, err)
	}
	if rec.Hash != "" {
		f.pending = 0
		if err := f.anchor(ctx, Head{Seq: rec.Seq, Hash: rec.Hash, Time: rec.FinishedAt}); err != nil {
			return 0, fmt.Errorf("evidence: timestamp %s: %w: seq %d: %w", f.path, ErrNotAnchored, rec.Seq, err)
		}
	}
	return 0, nil
}

// ErrTimestampPending is wrapped by File.Timestamp's error when the TSA could not be
// reached or refused: the records stay, without a timestamp until the next call.
var ErrTimestampPending = errors.New("timestamp pending")

// checkTimestamp verifies one timestamp record: it covers the record before it, its token
// is signed by a TSA that chains to roots, its imprint is SHA-256 of that record's hash,
// and its time is no earlier than that record's finish (less clock skew) and no earlier
// than the token before it. It returns the TSA's name and the token's time.
func checkTimestamp(ts *Timestamp, prevHash string, prevSeq int64, prevFinished time.Time, roots *x509.CertPool) (string, time.Time, error) {
	if ts == nil || ts.Seq != prevSeq || ts.Hash != prevHash {
		return "", time.Time{}, errors.New("timestamp record does not cover the record before it")
	}
	der, err := base64.StdEncoding.DecodeString(ts.Token)
	if err != nil {
		return "", time.Time{}, errors.New("timestamp token is not base64")
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("timestamp token is not CMS: %v", err)
	}
	tok, err := timestamp.Parse(der)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("timestamp token: %v", err)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: tok.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	for _, c := range p7.Certificates {
		opts.Intermediates.AddCert(c)
	}
	if err := p7.VerifyWithOpts(opts); err != nil {
		return "", time.Time{}, fmt.Errorf("timestamp token is not signed by a TSA of --tsa-ca: %v", err)
	}
	want, _ := hex.DecodeString(prevHash)
	if tok.HashAlgorithm != crypto.SHA256 || !bytes.Equal(tok.HashedMessage, want) {
		return "", time.Time{}, fmt.Errorf("timestamp token is for another hash (%x), not record %d's", tok.HashedMessage, prevSeq)
	}
	if tok.Time.Add(maxClockSkew).Before(prevFinished) {
		return "", time.Time{}, fmt.Errorf("timestamp time %s is before record %d finished (%s)", stamp(tok.Time), prevSeq, stamp(prevFinished))
	}
	name := ""
	if s := p7.GetOnlySigner(); s != nil {
		name = s.Subject.CommonName
	}
	return name, tok.Time, nil
}

// maxClockSkew is how far a TSA's clock and keyroll's may disagree.
const maxClockSkew = 5 * time.Minute
