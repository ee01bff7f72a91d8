package certcentral

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/keyroll/keyroll/rotate"
)

// KeysRotator adapts a Client to rotate's KeysAPI port, for a target whose document holds
// the API key itself. The Client authenticates with the key the run started from (the
// document's current key); Authenticate builds a client with the key it proves
// (Client.WithAPIKey). An error for a 401 or 403 wraps rotate.ErrKeyRejected; every error
// names its HTTP status and its evidence code, and none shows a key.
type KeysRotator struct {
	Client *Client
}

var _ rotate.KeysAPI = KeysRotator{}

// Key describes key id.
func (a KeysRotator) Key(ctx context.Context, id int) (rotate.APIKey, error) {
	k, err := a.Client.GetKey(ctx, id)
	if err != nil {
		return rotate.APIKey{}, keysErr(err)
	}
	return rotateKey(k), nil
}

// Keys lists every key of user userID, revoked ones included.
func (a KeysRotator) Keys(ctx context.Context, userID int) ([]rotate.APIKey, error) {
	ks, err := a.Client.ListKeys(ctx, userID)
	if err != nil {
		return nil, keysErr(err)
	}
	out := make([]rotate.APIKey, 0, len(ks))
	for _, k := range ks {
		if userID != 0 && k.UserID != 0 && k.UserID != userID {
			continue // an issuer that ignores the filter: never another user's key
		}
		out = append(out, rotateKey(k))
	}
	return out, nil
}

// CreateKey creates a key for user userID named name, restricted to roleID. It is never
// retried after an ambiguous failure (see Client.CreateKey): the rotation's intent and
// sweep find a key that was created anyway.
func (a KeysRotator) CreateKey(ctx context.Context, userID int, name string, roleID int) (rotate.CreatedKey, error) {
	ck, err := a.Client.CreateKey(ctx, userID, name, roleID)
	if err != nil {
		return rotate.CreatedKey{}, keysErr(err)
	}
	return rotate.CreatedKey{APIKey: rotate.APIKey{ID: ck.ID, UserID: userID, Name: name, Active: true,
		Status: KeyStatusActive, RoleID: roleID}, Key: ck.Key}, nil
}

// Revoke revokes key id. Revoking a revoked key succeeds: when DigiCert refuses the
// change with a 4xx other than 401/403 (the key is already revoked, or revoked keys are
// no longer found), the key is read back and a revoked or vanished key is success.
func (a KeysRotator) Revoke(ctx context.Context, id int) error {
	err := a.Client.RevokeKey(ctx, id)
	var ae *APIError
	if err == nil || !errors.As(err, &ae) || ae.Retryable() || ae.CredentialsRejected() {
		return keysErr(err)
	}
	k, gerr := a.Client.GetKey(ctx, id)
	var ge *APIError
	switch {
	case gerr == nil && k.Status == KeyStatusRevoked:
		return nil
	case errors.As(gerr, &ge) && ge.Status == http.StatusNotFound:
		return nil
	}
	return keysErr(err)
}

// Authenticate reads key id's description with key itself: one read-only call (GET
// /key/{id}) that succeeds only if DigiCert accepts key.
func (a KeysRotator) Authenticate(ctx context.Context, key string, id int) (rotate.APIKey, error) {
	c, err := a.Client.WithAPIKey(key)
	if err != nil {
		return rotate.APIKey{}, fmt.Errorf("certcentral: authenticate key %d: %w", id, err)
	}
	k, err := c.GetKey(ctx, id)
	if err != nil {
		return rotate.APIKey{}, keysErr(err)
	}
	return rotateKey(k), nil
}

func rotateKey(k APIKey) rotate.APIKey {
	return rotate.APIKey{ID: k.ID, UserID: k.UserID, Name: k.Name, Active: k.Status == KeyStatusActive, Status: k.Status,
		RoleID: k.RoleID, Created: k.Created, LastUsed: k.LastUsed, Legacy: k.Legacy}
}

// keysErr is err as rotate sees it: a rejected key wraps rotate.ErrKeyRejected.
func keysErr(err error) error {
	if err == nil {
		return nil
	}
	if IsCredentialsRejected(err) {
		err = fmt.Errorf("%w: %w", rotate.ErrKeyRejected, err)
	}
	return &rotateError{err}
}
