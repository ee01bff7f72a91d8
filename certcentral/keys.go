package certcentral

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

// API key statuses.
const (
	KeyStatusActive  = "active"
	KeyStatusRevoked = "revoked"
)

// Error codes of the API-key calls that callers may test for with [APIError.HasCode].
const (
	CodeKeyNotFound  = "not_found|api_key"
	CodeUserNotFound = "not_found|user"
)

// APIKey is an API key as GET /key and GET /key/{id} describe it: never the key itself.
type APIKey struct {
	ID            int
	UserID        int
	UserFirstName string
	UserLastName  string
	Status        string // KeyStatusActive or KeyStatusRevoked
	Name          string
	Legacy        bool
	// RoleID is restricted_to_role_id: the access role the key is limited to; 0: none.
	RoleID  int
	Created time.Time
	// LastUsed is last_used_date; zero when DigiCert sent none (never used).
	LastUsed time.Time
}

// AccessRole is one API access role (GET /key/api-roles).
type AccessRole struct {
	ID   int
	Name string
}

// CreatedKey is a key POST /key/user/{id} just created: the only time DigiCert shows the
// key. Formatting a CreatedKey with fmt, or marshaling it to JSON, never shows Key.
type CreatedKey struct {
	ID  int
	Key string
}

// String describes the key by id and fingerprint.
func (k CreatedKey) String() string {
	return fmt.Sprintf("{ID:%d Key:%s}", k.ID, keyset.Fingerprint(k.Key))
}

// Format implements fmt.Formatter: no verb reveals the key.
func (k CreatedKey) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(k.String()))
		return
	}
	_, _ = io.WriteString(f, k.String())
}

// MarshalJSON implements json.Marshaler with the id and the key's fingerprint.
func (k CreatedKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID          int    `json:"id"`
		Fingerprint string `json:"fingerprint"`
	}{k.ID, keyset.Fingerprint(k.Key)})
}

// wireKey is one key as DigiCert sends it. Unknown fields are ignored.
type wireKey struct {
	ID   flexInt `json:"id"`
	User *struct {
		ID        flexInt `json:"id"`
		FirstName string  `json:"first_name"`
		LastName  string  `json:"last_name"`
	} `json:"user"`
	Status     string          `json:"status"`
	CreateDate json.RawMessage `json:"create_date"`
	LastUsed   json.RawMessage `json:"last_used_date"`
	Name       string          `json:"name"`
	IsLegacy   flexBool        `json:"is_legacy"`
	RoleID     flexInt         `json:"restricted_to_role_id"`
}

func (w wireKey) key() (APIKey, error) {
	if w.ID <= 0 || int64(int(w.ID)) != int64(w.ID) {
		return APIKey{}, fmt.Errorf("invalid key id")
	}
	k := APIKey{ID: int(w.ID), Status: w.Status, Name: w.Name, Legacy: bool(w.IsLegacy), RoleID: int(w.RoleID)}
	if w.User != nil {
		k.UserID, k.UserFirstName, k.UserLastName = int(w.User.ID), w.User.FirstName, w.User.LastName
	}
	var err error
	if k.Created, err = parseKeyDate(w.CreateDate); err != nil {
		return APIKey{}, fmt.Errorf("key %d: create_date: %w", k.ID, err)
	}
	if k.LastUsed, err = parseKeyDate(w.LastUsed); err != nil {
		return APIKey{}, fmt.Errorf("key %d: last_used_date: %w", k.ID, err)
	}
	return k, nil
}

// keyDateLayouts are the spellings of create_date and last_used_date accepted: DigiCert
// documents "UTC timezone and ISO 8601" and shows "2018-08-07T23:27:58+00:00"; the others
// are what an ISO 8601 or PHP date may also look like. A time without a zone is UTC.
var keyDateLayouts = []string{
	time.RFC3339Nano, // covers RFC 3339 with "Z" or "+00:00", fractions optional
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseKeyDate reads a key's date: null, "" and a missing field are the zero time, as is
// PHP's zero date; anything else unreadable is an error (a last use misread as "never"
// would let a rotation revoke a key in use).
func parseKeyDate(raw json.RawMessage) (time.Time, error) {
	if presentRaw(raw) == nil {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("not a string")
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		return time.Time{}, nil
	}
	for _, layout := range keyDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable date %q", clean(s, 40))
}

// flexBool decodes a boolean sent as true/false, 0/1 or "0"/"1"/"true"/"false"; null is
// false.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(strings.TrimSpace(string(data)), `"`)
	switch s {
	case "true", "1":
		*b = true
	case "false", "0", "", "null":
		*b = false
	default:
		return fmt.Errorf("not a boolean")
	}
	return nil
}

// decodeKeys parses GET /key's {"api_keys": [...]}.
func decodeKeys(body []byte) ([]APIKey, error) {
	var l struct {
		Keys json.RawMessage `json:"api_keys"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, err
	}
	if l.Keys == nil {
		return nil, fmt.Errorf("no \"api_keys\" field")
	}
	var items []wireKey // JSON null: none
	if err := json.Unmarshal(l.Keys, &items); err != nil {
		return nil, err
	}
	out := make([]APIKey, 0, len(items))
	for _, w := range items {
		k, err := w.key()
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// decodeKey parses GET /key/{id}'s body.
func decodeKey(body []byte) (APIKey, error) {
	var w wireKey
	if err := json.Unmarshal(body, &w); err != nil {
		return APIKey{}, err
	}
	return w.key()
}

// decodeRoles parses GET /key/api-roles: {"access_roles": [...]} as documented, or
// {"api_roles": [...]}.
func decodeRoles(body []byte) ([]AccessRole, error) {
	type wireRole struct {
		ID   flexInt `json:"id"`
		Name string  `json:"name"`
	}
	var l struct {
		Access *[]wireRole `json:"access_roles"`
		API    *[]wireRole `json:"api_roles"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, err
	}
	list := l.Access
	if list == nil {
		list = l.API
	}
	if list == nil {
		return nil, fmt.Errorf("no \"access_roles\" field")
	}
	out := make([]AccessRole, 0, len(*list))
	for _, r := range *list {
		if r.ID <= 0 || int64(int(r.ID)) != int64(r.ID) {
			return nil, fmt.Errorf("invalid role id")
		}
		out = append(out, AccessRole{ID: int(r.ID), Name: r.Name})
	}
	return out, nil
}

// ListKeys lists the API keys of user userID, revoked ones included (GET
// /key?user_id=N); userID 0 lists every key the caller may see.
func (c *Client) ListKeys(ctx context.Context, userID int) ([]APIKey, error) {
	path := "/key"
	if userID < 0 {
		return nil, fmt.Errorf("certcentral: GET %s: %w: user id must not be negative", path, ErrInvalidRequest)
	}
	if userID > 0 {
		path += "?" + url.Values{"user_id": {strconv.Itoa(userID)}}.Encode()
	}
	res, err := c.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	keys, err := decodeKeys(res.body)
	if err != nil {
		return nil, fmt.Errorf("certcentral: GET %s: %w: %s", path, ErrMalformedResponse, clean(err.Error(), 200))
	}
	return keys, nil
}

// GetKey describes key id (GET /key/{id}); DigiCert never returns the key itself.
func (c *Client) GetKey(ctx context.Context, id int) (APIKey, error) {
	path, err := keyPath(id, "")
	if err != nil {
		return APIKey{}, fmt.Errorf("certcentral: GET /key/%d: %w", id, err)
	}
	res, err := c.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return APIKey{}, err
	}
	k, err := decodeKey(res.body)
	if err != nil {
		return APIKey{}, fmt.Errorf("certcentral: GET %s: %w: %s", path, ErrMalformedResponse, clean(err.Error(), 200))
	}
	return k, nil
}

// CreateKey creates an API key for user userID named name, restricted to access role
// roleID (0: unrestricted), with POST /key/user/{user_id}, and returns it: the only time
// DigiCert shows the key.
//
// The call is not retried after a failure that may have been applied: a timeout, a
// connection error or a 5xx may come after DigiCert created the key, and a second POST
// would create a second key. Only 429 (refused before processing) is retried. After an
// ambiguous failure the caller must find out from the user's keys (ListKeys) whether the
// key exists, which is why keyroll names its keys after the rotation.
func (c *Client) CreateKey(ctx context.Context, userID int, name string, roleID int) (CreatedKey, error) {
	path := "/key/user/" + strconv.Itoa(userID)
	switch {
	case userID <= 0:
		return CreatedKey{}, fmt.Errorf("certcentral: POST %s: %w: user id must be positive", path, ErrInvalidRequest)
	case name == "":
		return CreatedKey{}, fmt.Errorf("certcentral: POST %s: %w: name is required", path, ErrInvalidRequest)
	case roleID < 0:
		return CreatedKey{}, fmt.Errorf("certcentral: POST %s: %w: role id must not be negative", path, ErrInvalidRequest)
	}
	var b bytes.Buffer
	b.WriteString(`{"name":`)
	writeJSON(&b, name)
	if roleID > 0 {
		b.WriteString(`,"restricted_to_role_id":` + strconv.Itoa(roleID))
	}
	b.WriteString(`}`)
	res, err := c.do(ctx, call{method: http.MethodPost, path: path, body: b.Bytes(), noReplay: true})
	if err != nil {
		return CreatedKey{}, err
	}
	var out struct {
		ID     flexInt `json:"id"`
		APIKey *string `json:"api_key"`
	}
	if err := json.Unmarshal(res.body, &out); err != nil || out.ID <= 0 || out.APIKey == nil || *out.APIKey == "" {
		return CreatedKey{}, fmt.Errorf("certcentral: POST %s: %w: no id or api_key", path, ErrMalformedResponse)
	}
	if strings.ContainsAny(*out.APIKey, "\r\n") {
		return CreatedKey{}, fmt.Errorf("certcentral: POST %s: %w: api_key contains a line break", path, ErrMalformedResponse)
	}
	c.remember(*out.APIKey)
	return CreatedKey{ID: int(out.ID), Key: *out.APIKey}, nil
}

// SetKeyStatus sets key id's status to KeyStatusActive or KeyStatusRevoked (PUT
// /key/{id}/status). DigiCert answers 204. Retrying it is safe: the same status set twice
// has the same effect.
func (c *Client) SetKeyStatus(ctx context.Context, id int, status string) error {
	path, err := keyPath(id, "status")
	if err != nil {
		return fmt.Errorf("certcentral: PUT /key/%d/status: %w", id, err)
	}
	if status != KeyStatusActive && status != KeyStatusRevoked {
		return fmt.Errorf("certcentral: PUT %s: %w: status %q is neither active nor revoked", path, ErrInvalidRequest, clean(status, 40))
	}
	_, err = c.do(ctx, call{method: http.MethodPut, path: path, body: []byte(`{"status":"` + status + `"}`)})
	return err
}

// RevokeKey revokes key id: SetKeyStatus(ctx, id, KeyStatusRevoked).
func (c *Client) RevokeKey(ctx context.Context, id int) error {
	return c.SetKeyStatus(ctx, id, KeyStatusRevoked)
}

// AccessRoles lists the API access roles a key can be restricted to (GET
// /key/api-roles).
func (c *Client) AccessRoles(ctx context.Context) ([]AccessRole, error) {
	const path = "/key/api-roles"
	res, err := c.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	roles, err := decodeRoles(res.body)
	if err != nil {
		return nil, fmt.Errorf("certcentral: GET %s: %w: %s", path, ErrMalformedResponse, clean(err.Error(), 200))
	}
	return roles, nil
}

func keyPath(id int, verb string) (string, error) {
	if id <= 0 {
		return "", fmt.Errorf("%w: key id must be positive", ErrInvalidRequest)
	}
	p := "/key/" + strconv.Itoa(id)
	if verb != "" {
		p += "/" + verb
	}
	return p, nil
}
