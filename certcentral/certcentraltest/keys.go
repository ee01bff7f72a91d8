package certcentraltest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// API key statuses.
const (
	KeyActive  = "active"
	KeyRevoked = "revoked"
)

// API access roles (GET /key/api-roles): a key restricted to one of them may do only a
// subset of what its user may do. 0 is no restriction.
const (
	RoleUnrestricted                  = 0
	RoleOrders                        = 100
	RoleOrdersDomainsOrganizations    = 101
	RoleViewOnly                      = 102
	firstUserID, firstKeyID           = 10001, 501
	defaultFirstName, defaultLastName = "Sim", "User"
)

// Role is one API access role.
type Role struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// AccessRoles are the roles GET /key/api-roles lists, as DigiCert documents them.
var AccessRoles = []Role{
	{RoleOrders, "Orders"},
	{RoleOrdersDomainsOrganizations, "Orders, Domains, Organizations"},
	{RoleViewOnly, "View Only"},
}

// DefaultKeyName is the name of the key AddAccount creates.
const DefaultKeyName = "initial key"

// User is a user of an account; API keys belong to users.
type User struct {
	ID        int
	FirstName string
	LastName  string
}

// Key is one API key as the simulator describes it: never the key itself (see
// Account.APIKey for that).
type Key struct {
	ID      int
	UserID  int
	Name    string
	Status  string // KeyActive or KeyRevoked
	RoleID  int    // restricted_to_role_id; 0: unrestricted
	Created time.Time
	// LastUsed is when the key last authenticated a request, at the configured precision
	// (WithLastUsedPrecision); zero: never used.
	LastUsed time.Time
	Legacy   bool
	// Fingerprint is Fingerprint of the key; Account is the Fingerprint of the account.
	Fingerprint string
	Account     string
}

// keyState is a key with the key itself; guarded by s.mu.
type keyState struct {
	Key
	apiKey  string
	acct    *Account
	readyAt time.Time // the key authenticates from then on (WithNewKeyDelay)
}

// ErrNoKey is returned for a key id the account does not have.
var ErrNoKey = errors.New("certcentraltest: no such API key in the account")

// ErrNoUser is returned for a user id the account does not have.
var ErrNoUser = errors.New("certcentraltest: no such user in the account")

// NewKey describes a key to seed with Account.AddKey.
type NewKey struct {
	UserID int    // 0: the account's first user
	APIKey string // the key itself; "": a random one
	Name   string // "": DefaultKeyName
	RoleID int    // 0: unrestricted
	Status string // "": KeyActive
	Legacy bool
}

// randomKey is a fresh API key: 48 lowercase letters and digits, like DigiCert's.
func randomKey() string {
	return strings.ToLower(rand.Text() + rand.Text())[:48]
}

// addUser adds a user to a; s.mu must be held.
func (s *Server) addUser(a *Account, first, last string) int {
	id := s.nextUserID
	s.nextUserID++
	a.users = append(a.users, User{ID: id, FirstName: first, LastName: last})
	return id
}

// user returns a's user id, or nil; s.mu must be held.
func (a *Account) user(id int) *User {
	for i := range a.users {
		if a.users[i].ID == id {
			return &a.users[i]
		}
	}
	return nil
}

// addKey adds a key; s.mu must be held. ready is when it starts to authenticate.
func (s *Server) addKey(a *Account, k NewKey, ready time.Time) (*keyState, error) {
	if k.UserID == 0 {
		k.UserID = a.users[0].ID
	}
	if a.user(k.UserID) == nil {
		return nil, fmt.Errorf("%w: user %d", ErrNoUser, k.UserID)
	}
	if k.APIKey == "" {
		k.APIKey = randomKey()
	}
	if _, dup := s.keys[k.APIKey]; dup {
		return nil, errors.New("certcentraltest: AddKey: the API key is already in use")
	}
	switch k.Status {
	case "":
		k.Status = KeyActive
	case KeyActive, KeyRevoked:
	default:
		return nil, fmt.Errorf("certcentraltest: AddKey: status %q is neither %s nor %s", k.Status, KeyActive, KeyRevoked)
	}
	if k.Name == "" {
		k.Name = DefaultKeyName
	}
	ks := &keyState{Key: Key{ID: s.nextKeyID, UserID: k.UserID, Name: k.Name, Status: k.Status, RoleID: k.RoleID,
		Created: s.now().UTC().Truncate(time.Second), Legacy: k.Legacy, Fingerprint: Fingerprint(k.APIKey)},
		apiKey: k.APIKey, acct: a, readyAt: ready}
	s.nextKeyID++
	if a.fp == "" {
		a.fp = ks.Fingerprint
	}
	ks.Account = a.fp
	s.keys[k.APIKey] = ks
	a.keys = append(a.keys, ks)
	return ks, nil
}

// keyByID returns the account's key with this id, or nil; s.mu must be held.
func (a *Account) keyByID(id int) *keyState {
	for _, k := range a.keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// editKey changes the account's key with this id under the server's lock.
func (a *Account) editKey(id int, edit func(*keyState)) error {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	k := a.keyByID(id)
	if k == nil {
		return fmt.Errorf("%w: %d", ErrNoKey, id)
	}
	edit(k)
	return nil
}

// UserID returns the id of the account's first user, who holds the key AddAccount made.
func (a *Account) UserID() int {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.users[0].ID
}

// KeyID returns the id of the key AddAccount made the account with.
func (a *Account) KeyID() int {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.keys[0].ID
}

// Users returns the account's users, the first one first.
func (a *Account) Users() []User {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return slices.Clone(a.users)
}

// AddUser adds a user (an API-only service user, say) to the account and returns its id.
func (a *Account) AddUser(firstName, lastName string) int {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.addUser(a, firstName, lastName)
}

// AddKey adds an API key to the account out of band, as an administrator in the
// CertCentral UI would, and returns its id and the key itself. It authenticates at once
// (WithNewKeyDelay applies to keys created through the API only).
func (a *Account) AddKey(k NewKey) (id int, apiKey string, err error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	ks, err := a.s.addKey(a, k, time.Time{})
	if err != nil {
		return 0, "", err
	}
	return ks.ID, ks.apiKey, nil
}

// Keys returns the account's API keys, in the order they were made, without the keys
// themselves.
func (a *Account) Keys() []Key {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	out := make([]Key, len(a.keys))
	for i, k := range a.keys {
		out[i] = k.Key
	}
	return out
}

// Key describes the account's key with this id.
func (a *Account) Key(id int) (Key, bool) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if k := a.keyByID(id); k != nil {
		return k.Key, true
	}
	return Key{}, false
}

// APIKey returns the key itself of the account's key with this id, for tests that need
// to authenticate with a key an API call created.
func (a *Account) APIKey(id int) (string, bool) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if k := a.keyByID(id); k != nil {
		return k.apiKey, true
	}
	return "", false
}

// SetKeyStatus revokes (KeyRevoked) or reactivates (KeyActive) the key out of band.
func (a *Account) SetKeyStatus(id int, status string) error {
	if status != KeyActive && status != KeyRevoked {
		return fmt.Errorf("certcentraltest: SetKeyStatus: status %q is neither %s nor %s", status, KeyActive, KeyRevoked)
	}
	return a.editKey(id, func(k *keyState) { k.Status = status })
}

// SetKeyRole changes the key's restriction out of band (0: unrestricted), as an
// administrator editing the key in the CertCentral UI would.
func (a *Account) SetKeyRole(id, roleID int) error {
	return a.editKey(id, func(k *keyState) { k.RoleID = roleID })
}

// RevokeKey revokes the key out of band.
func (a *Account) RevokeKey(id int) error { return a.SetKeyStatus(id, KeyRevoked) }

// SetKeyLastUsed sets the key's last_used_date out of band (truncated to the configured
// precision; zero: never used), as if a consumer had used it then.
func (a *Account) SetKeyLastUsed(id int, t time.Time) error {
	return a.editKey(id, func(k *keyState) { k.LastUsed = a.s.usedTime(t) })
}

// ActiveKeys returns the account's active keys.
func (a *Account) ActiveKeys() []Key {
	var out []Key
	for _, k := range a.Keys() {
		if k.Status == KeyActive {
			out = append(out, k)
		}
	}
	return out
}

// Keys returns every key of every account, by account in the order they were added.
func (s *Server) Keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Key
	for _, a := range s.accountList {
		for _, k := range a.keys {
			out = append(out, k.Key)
		}
	}
	return out
}

// usedTime is t as last_used_date records it; zero stays zero.
func (s *Server) usedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	t = t.UTC()
	if s.opts.lastUsedPrecision == LastUsedDay {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Second)
}
