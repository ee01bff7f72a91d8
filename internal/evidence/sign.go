package evidence

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Signer signs the hash of each appended record. keyroll's signer is Vault Transit: it
// holds the private key, keyroll only asks it to sign. Sign returns the signature as
// Transit writes it, "vault:v<key version>:<base64 signature>".
type Signer interface {
	Sign(ctx context.Context, message []byte) (string, error)
}

// Head is the end of an evidence file as anchored outside it: the last record's seq and
// hash, and when it was anchored.
type Head struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// Anchor stores the Head of an evidence file outside the file (keyroll's is a KV v2 secret
// in Vault), with check-and-set so that concurrent writers never move it backwards.
type Anchor interface {
	// ReadHead returns the anchored head and its version; version 0 and a zero Head when
	// nothing was anchored yet.
	ReadHead(ctx context.Context) (Head, int, error)
	// WriteHead stores h if the anchor's version is still cas (0: only if none exists)
	// and returns the new version, or an error wrapping ErrAnchorConflict when another
	// writer got there first.
	WriteHead(ctx context.Context, h Head, cas int) (int, error)
}

// ErrAnchorConflict is wrapped by Anchor.WriteHead's error when the anchor changed since
// it was read.
var ErrAnchorConflict = errors.New("anchor changed since it was read")

// signedMessage is what a record's signature signs: the ASCII bytes of its hash.
func signedMessage(hash string) []byte { return []byte(hash) }

// ParseSignature splits a signature as Transit writes it, "vault:v<N>:<base64>", into the
// key version N and the raw signature.
func ParseSignature(s string) (version int, sig []byte, err error) {
	rest, ok := strings.CutPrefix(s, "vault:v")
	ver, b64, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return 0, nil, errors.New(`signature is not "vault:v<key version>:<base64>"`)
	}
	version, err = strconv.Atoi(ver)
	if err != nil || version < 1 {
		return 0, nil, fmt.Errorf("signature key version %q is not a positive integer", ver)
	}
	sig, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) == 0 {
		return 0, nil, errors.New("signature is not valid base64")
	}
	return version, sig, nil
}

// verifySignature checks signature (Transit's form) over the record hash with any of keys
// and returns the key version it names.
func verifySignature(keys []crypto.PublicKey, hash, signature string) (int, error) {
	version, sig, err := ParseSignature(signature)
	if err != nil {
		return 0, err
	}
	msg := signedMessage(hash)
	for _, k := range keys {
		switch pk := k.(type) {
		case ed25519.PublicKey:
			if ed25519.Verify(pk, msg, sig) {
				return version, nil
			}
		case *ecdsa.PublicKey:
			digest := sha256.Sum256(msg)
			if ecdsa.VerifyASN1(pk, digest[:], sig) {
				return version, nil
			}
		}
	}
	return version, fmt.Errorf("signature (key version %d) does not verify with the public key: forged, or signed by another key", version)
}

// ParsePublicKeys reads every "PUBLIC KEY" block (PKIX, ed25519 or ECDSA P-256) from PEM
// data, such as the output of `keyroll evidence public-key` for one or more key versions.
func ParsePublicKeys(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("evidence: public key %d: %w", n, err)
		}
		switch pk := k.(type) {
		case ed25519.PublicKey:
		case *ecdsa.PublicKey:
			if pk.Curve.Params().Name != "P-256" {
				return nil, fmt.Errorf("evidence: public key %d: ECDSA curve %s, want P-256", n, pk.Curve.Params().Name)
			}
		default:
			return nil, fmt.Errorf("evidence: public key %d: %T, want ed25519 or ECDSA P-256", n, k)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New(`evidence: no "PUBLIC KEY" PEM block (get one with keyroll evidence public-key)`)
	}
	return keys, nil
}
