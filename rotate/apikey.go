package rotate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
)

// The API-key kind: a target whose document holds the issuer's API key itself (keyroll's
// own credential to CertCentral), rotated by creating a successor at the issuer, storing
// it, proving it authenticates, promoting it, and revoking the old key once its overlap is
// over (docs/design.md, "The API key"). It shares KeyStore, the document, the wait-free
// steps and the evidence with the webhook kind; KeysAPI replaces WebhookAPI.

// ErrKeyRejected is wrapped by a KeysAPI error when the issuer refused the key a call was
// authenticated with (DigiCert: 401 or 403).
var ErrKeyRejected = failure.New(failure.NeedsHuman, "API key rejected")

// APIKey is one API key as the issuer describes it: never the key itself.
type APIKey struct {
	ID     int
	UserID int
	Name   string
	// Active says the key authenticates requests; Status is the issuer's word for it
	// ("active", "revoked").
	Active bool
	Status string
	// RoleID restricts the key to one of the issuer's access roles; 0: unrestricted.
	RoleID   int
	Created  time.Time
	LastUsed time.Time // zero: never used, or the issuer does not say
	Legacy   bool
}

// CreatedKey is a key the issuer just created: the only time the key itself is shown.
// Formatting a CreatedKey with fmt or encoding/json never shows Key.
type CreatedKey struct {
	APIKey
	Key string
}

// Format implements fmt.Formatter: every verb prints the key's description and the
// fingerprint of the key.
func (k CreatedKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, fmt.Sprintf("{ID:%d UserID:%d Name:%q RoleID:%d Key:%s}", k.ID, k.UserID, k.Name, k.RoleID, keyset.Fingerprint(k.Key)))
}

// MarshalJSON implements json.Marshaler: the key's description and the fingerprint of
// the key, never the key.
func (k CreatedKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		APIKey
		Fingerprint string `json:"fingerprint"`
	}{k.APIKey, keyset.Fingerprint(k.Key)})
}

// KeysAPI is the part of the issuer's API an API-key rotation uses. The adapter
// authenticates with the key the run started from (the document's current key), except in
// Authenticate.
type KeysAPI interface {
	// Key describes key id.
	Key(ctx context.Context, id int) (APIKey, error)
	// Keys lists every key of user userID, revoked ones included.
	Keys(ctx context.Context, userID int) ([]APIKey, error)
	// CreateKey creates a key for user userID named name, restricted to roleID (0: none).
	CreateKey(ctx context.Context, userID int, name string, roleID int) (CreatedKey, error)
	// Revoke sets key id's status to revoked; revoking a revoked key succeeds.
	Revoke(ctx context.Context, id int) error
	// Authenticate makes one read-only call authenticated with key (describing key id, the
	// key itself) and returns the description. An error wraps ErrKeyRejected when the
	// issuer refused key.
	Authenticate(ctx context.Context, key string, id int) (APIKey, error)
}

// InUse is what a rotation does with an old API key that was used after its successor
// was promoted (plus KeyPolicy.Grace): someone still holds it.
type InUse int

const (
	// InUseHold keeps the old key active and stops: needs a human (the default: revoking
	// a key that is still in use breaks its consumer, an outage of unknown reach, while a
	// held key is one older credential, alerted on, until someone finds the consumer).
	InUseHold InUse = iota
	// InUseRevoke revokes it anyway, and says so in the evidence and a notification.
	InUseRevoke
)

// KeyPolicy is the API-key kind's part of a target.
type KeyPolicy struct {
	// KeyID is the issuer's id of the document's current key when the document does not
	// record it (first adoption); 0: unknown.
	KeyID int
	// Grace after the promote within which a use of the old key is not a consumer (a
	// process that read the document just before the promote).
	Grace time.Duration
	InUse InUse
}
