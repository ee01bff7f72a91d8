// Package evidencevault keeps keyroll's evidence file honest with Vault: a Transit key signs
// each record (the private key never leaves Vault) and a KV v2 secret anchors the file's
// head with check-and-set (docs/design.md, "The evidence"). They implement the evidence
// package's Signer and Anchor; errors are *vault.Error, scrubbed and classified like every
// other Vault error.
package evidencevault

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/vault"
)

// Signer signs evidence records with a Vault Transit key: it sends the record's hash and
// gets back "vault:v<N>:<signature>".
type Signer struct {
	client *api.Client
	mount  string
	key    string
}

// NewSigner returns a Signer for Transit key key on mount, using client's token.
func NewSigner(client *api.Client, mount, key string) Signer {
	return Signer{client: client, mount: strings.Trim(mount, "/"), key: key}
}

// Sign implements evidence.Signer: one Transit sign request. A denied token or policy
// wraps vault.ErrPermissionDenied (needs a human); Vault down, sealed or answering 5xx
// wraps vault.ErrUnavailable (retryable).
func (s Signer) Sign(ctx context.Context, msg []byte) (string, error) {
	path := s.mount + "/sign/" + s.key
	sec, err := s.client.Logical().WriteWithContext(ctx, path, map[string]any{"input": base64.StdEncoding.EncodeToString(msg)})
	if err != nil {
		return "", vault.OpError("sign", path, err)
	}
	var sig string
	if sec != nil {
		sig, _ = sec.Data["signature"].(string)
	}
	if sig == "" {
		return "", &vault.Error{Op: "sign", Path: path, Kind: vault.ErrUnavailable, Err: errors.New("no signature in the answer")}
	}
	return sig, nil
}

// PublicKeysPEM returns the public keys of the Transit key, as PKIX PEM blocks each under a
// comment naming its version; version 0 asks for every version.
func (s Signer) PublicKeysPEM(ctx context.Context, version int) ([]byte, error) {
	path := s.mount + "/keys/" + s.key
	sec, err := s.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, vault.OpError("read", path, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, &vault.Error{Op: "read", Path: path, Kind: vault.ErrNotFound, Err: errors.New("no such Transit key")}
	}
	typ, _ := sec.Data["type"].(string)
	keys, _ := sec.Data["keys"].(map[string]any)
	var versions []int
	for v := range keys {
		n, err := strconv.Atoi(v)
		if err == nil && (version == 0 || n == version) {
			versions = append(versions, n)
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("vault transit %s: no public key of version %d", path, version)
	}
	slices.Sort(versions)
	var out []byte
	for _, v := range versions {
		k, _ := keys[strconv.Itoa(v)].(map[string]any)
		pub, _ := k["public_key"].(string)
		der, err := publicKeyDER(typ, pub)
		if err != nil {
			return nil, fmt.Errorf("vault transit %s version %d: %w", path, v, err)
		}
		out = append(out, fmt.Sprintf("# %s version %d (%s)\n", path, v, typ)...)
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out, nil
}

// publicKeyDER converts Transit's public key (base64 raw bytes for ed25519, PEM for ECDSA)
// to PKIX DER.
func publicKeyDER(typ, pub string) ([]byte, error) {
	switch typ {
	case "ed25519":
		raw, err := base64.StdEncoding.DecodeString(pub)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, errors.New("ed25519 public key is not 32 bytes of base64")
		}
		return x509.MarshalPKIXPublicKey(ed25519.PublicKey(raw))
	case "ecdsa-p256":
		b, _ := pem.Decode([]byte(pub))
		if b == nil {
			return nil, errors.New("ECDSA public key is not PEM")
		}
		return b.Bytes, nil
	}
	return nil, fmt.Errorf("key type %q cannot sign evidence: want ed25519 or ecdsa-p256", typ)
}
