package cli

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
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/vault"
)

// transitSigner signs evidence records with a Vault Transit key: keyroll sends the record's
// hash and gets back "vault:v<N>:<signature>"; the private key never leaves Vault.
type transitSigner struct {
	client *api.Client
	mount  string
	key    string
}

func newTransitSigner(c *api.Client, s config.EvidenceSigning) transitSigner {
	return transitSigner{client: c, mount: s.Mount(), key: s.Key}
}

// Sign implements evidence.Signer.
func (s transitSigner) Sign(ctx context.Context, msg []byte) (string, error) {
	path := s.mount + "/sign/" + s.key
	sec, err := s.client.Logical().WriteWithContext(ctx, path, map[string]any{"input": base64.StdEncoding.EncodeToString(msg)})
	if err != nil {
		return "", fmt.Errorf("vault transit %s: %w", path, err)
	}
	var sig string
	if sec != nil {
		sig, _ = sec.Data["signature"].(string)
	}
	if sig == "" {
		return "", fmt.Errorf("vault transit %s: no signature in the answer", path)
	}
	return sig, nil
}

// publicKeysPEM returns the public keys of the Transit key, as PKIX PEM blocks, by version;
// version 0 asks for every version.
func (s transitSigner) publicKeysPEM(ctx context.Context, version int) ([]byte, error) {
	path := s.mount + "/keys/" + s.key
	sec, err := s.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("vault transit %s: %w", path, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("vault transit %s: no such key", path)
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
		der, err := transitPublicKeyDER(typ, pub)
		if err != nil {
			return nil, fmt.Errorf("vault transit %s version %d: %w", path, v, err)
		}
		out = append(out, fmt.Sprintf("# %s version %d (%s)\n", path, v, typ)...)
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out, nil
}

// transitPublicKeyDER converts Transit's public key (base64 raw bytes for ed25519, PEM for
// ECDSA) to PKIX DER.
func transitPublicKeyDER(typ, pub string) ([]byte, error) {
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

// kvAnchor keeps an evidence file's head in a KV v2 secret, written with check-and-set.
type kvAnchor struct {
	store *vault.Store
	path  string
}

// ReadHead implements evidence.Anchor.
func (a kvAnchor) ReadHead(ctx context.Context) (evidence.Head, int, error) {
	data, version, err := a.store.ReadData(ctx, a.path)
	if err != nil || data == nil { // never written, or the latest version was deleted
		return evidence.Head{}, version, err
	}
	var h evidence.Head
	h.Seq = int64(vault.Int(data["seq"]))
	h.Hash, _ = data["hash"].(string)
	if t, ok := data["time"].(string); ok {
		h.Time, _ = time.Parse(time.RFC3339Nano, t)
	}
	if h.Seq < 1 || h.Hash == "" {
		return evidence.Head{}, 0, fmt.Errorf("vault read %s: the anchor has no seq and hash", a.path)
	}
	return h, version, nil
}

// WriteHead implements evidence.Anchor.
func (a kvAnchor) WriteHead(ctx context.Context, h evidence.Head, cas int) (int, error) {
	v, err := a.store.WriteData(ctx, a.path, map[string]any{"seq": h.Seq, "hash": h.Hash, "time": h.Time.UTC().Format(time.RFC3339Nano)}, cas)
	if errors.Is(err, vault.ErrCASConflict) {
		return 0, fmt.Errorf("%w: %w", evidence.ErrAnchorConflict, err)
	}
	return v, err
}
