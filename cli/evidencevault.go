package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/config"
	"github.com/keyroll/keyroll/evidence"
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
	client *api.Client
	mount  string
	path   string
}

func (a kvAnchor) dataPath() string { return a.mount + "/data/" + strings.Trim(a.path, "/") }

// ReadHead implements evidence.Anchor.
func (a kvAnchor) ReadHead(ctx context.Context) (evidence.Head, int, error) {
	sec, err := a.client.Logical().ReadWithContext(ctx, a.dataPath())
	if err != nil {
		return evidence.Head{}, 0, fmt.Errorf("vault read %s: %w", a.dataPath(), err)
	}
	if sec == nil || sec.Data == nil {
		return evidence.Head{}, 0, nil
	}
	meta, _ := sec.Data["metadata"].(map[string]any)
	version := jsonInt(meta["version"])
	data, _ := sec.Data["data"].(map[string]any)
	if data == nil { // the latest version was deleted
		return evidence.Head{}, version, nil
	}
	var h evidence.Head
	h.Seq = int64(jsonInt(data["seq"]))
	h.Hash, _ = data["hash"].(string)
	if t, ok := data["time"].(string); ok {
		h.Time, _ = time.Parse(time.RFC3339Nano, t)
	}
	if h.Seq < 1 || h.Hash == "" {
		return evidence.Head{}, 0, fmt.Errorf("vault read %s: the anchor has no seq and hash", a.dataPath())
	}
	return h, version, nil
}

// WriteHead implements evidence.Anchor.
func (a kvAnchor) WriteHead(ctx context.Context, h evidence.Head, cas int) (int, error) {
	sec, err := a.client.Logical().WriteWithContext(ctx, a.dataPath(), map[string]any{
		"data":    map[string]any{"seq": h.Seq, "hash": h.Hash, "time": h.Time.UTC().Format(time.RFC3339Nano)},
		"options": map[string]any{"cas": cas},
	})
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "check-and-set") {
		return 0, fmt.Errorf("vault write %s: %w", a.dataPath(), evidence.ErrAnchorConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("vault write %s: %w", a.dataPath(), err)
	}
	if sec == nil {
		return 0, fmt.Errorf("vault write %s: no version in the answer", a.dataPath())
	}
	return jsonInt(sec.Data["version"]), nil
}

func jsonInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	}
	return 0
}
