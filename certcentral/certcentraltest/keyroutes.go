package certcentraltest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// routeKeys dispatches the API-key calls: GET /key?user_id=, GET /key/api-roles,
// POST /key/user/{user_id}, GET /key/{id} and PUT /key/{id}/status.
func (s *Server) routeKeys(c caller, method, path, query string, body []byte) reply {
	if path == "/key" {
		if method != http.MethodGet {
			return routeNotFound()
		}
		return s.listKeys(c, query)
	}
	rest := strings.TrimPrefix(path, "/key/")
	if rest == "api-roles" {
		if method != http.MethodGet {
			return routeNotFound()
		}
		return jsonReply(http.StatusOK, s.marshal(map[string][]Role{"access_roles": AccessRoles}))
	}
	if userText, ok := strings.CutPrefix(rest, "user/"); ok {
		userID, ok := pathID(userText)
		if !ok || method != http.MethodPost {
			return routeNotFound()
		}
		return s.createKey(c, userID, body)
	}
	idText, verb, _ := strings.Cut(rest, "/")
	id, ok := pathID(idText)
	switch {
	case !ok:
		return routeNotFound()
	case verb == "" && method == http.MethodGet:
		return s.keyInfo(c, id)
	case verb == "status" && method == http.MethodPut:
		return s.setKeyStatus(c, id, body)
	}
	return routeNotFound()
}

// pathID parses a positive id written canonically.
func pathID(text string) (int, bool) {
	id, err := strconv.Atoi(text)
	return id, err == nil && id > 0 && strconv.Itoa(id) == text
}

// managesKeys reports whether the caller's role may manage API keys (WithKeyManagerRoles).
func (s *Server) managesKeys(c caller) bool { return slices.Contains(s.opts.keyManagers, c.role) }

func keyNotFound() reply {
	return errorReply(http.StatusNotFound, "not_found|api_key", "The API key was not found.")
}

// wireUser and wireKey are a key's JSON, as DigiCert documents it.
type wireUser struct {
	ID        int    `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type wireKey struct {
	ID           int      `json:"id"`
	User         wireUser `json:"user"`
	Status       string   `json:"status"`
	CreateDate   string   `json:"create_date"`
	LastUsedDate string   `json:"last_used_date,omitempty"` // omitted when never used
	Name         string   `json:"name"`
	IsLegacy     bool     `json:"is_legacy"`
	RoleID       int      `json:"restricted_to_role_id"`
}

// wire describes k; s.mu must be held.
func (s *Server) wire(k *keyState) wireKey {
	w := wireKey{ID: k.ID, Status: k.Status, CreateDate: s.keyDate(k.Created), LastUsedDate: s.keyDate(k.LastUsed),
		Name: k.Name, IsLegacy: k.Legacy, RoleID: k.RoleID}
	if u := k.acct.user(k.UserID); u != nil {
		w.User = wireUser{u.ID, u.FirstName, u.LastName}
	}
	return w
}

func (s *Server) keyDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(s.opts.keyDateLayout)
}

// visible reports whether GET shows k (WithHideRevokedKeys).
func (s *Server) visible(k *keyState) bool { return !(s.opts.hideRevoked && k.Status != KeyActive) }

// listKeys answers GET /key[?user_id=N]: the account's keys, of one user when asked.
func (s *Server) listKeys(c caller, query string) reply {
	if !s.managesKeys(c) {
		return forbidden()
	}
	q, err := url.ParseQuery(query)
	userID := 0
	if v := q.Get("user_id"); err == nil && v != "" {
		if userID, err = strconv.Atoi(v); err == nil && userID <= 0 {
			err = strconv.ErrRange
		}
	}
	if err != nil {
		return *badFormat("user_id must be a positive integer.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []wireKey{}
	for _, k := range c.acct.keys {
		if (userID == 0 || k.UserID == userID) && s.visible(k) {
			out = append(out, s.wire(k))
		}
	}
	return jsonReply(http.StatusOK, s.marshal(map[string][]wireKey{"api_keys": out}))
}

// keyInfo answers GET /key/{id}: one key's description, never the key.
func (s *Server) keyInfo(c caller, id int) reply {
	if !s.managesKeys(c) && !(s.opts.selfInfo && id == c.keyID) {
		return forbidden()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := c.acct.keyByID(id)
	if k == nil || !s.visible(k) {
		return keyNotFound()
	}
	return jsonReply(http.StatusOK, s.marshal(s.wire(k)))
}

// createKey answers POST /key/user/{user_id} with {"name", "restricted_to_role_id"}: 201
// {"id", "api_key"}, the only time the key is shown.
func (s *Server) createKey(c caller, userID int, body []byte) reply {
	if !s.managesKeys(c) || c.acct.isReadOnly() {
		return forbidden()
	}
	var req struct {
		Name   *string      `json:"name"`
		RoleID *json.Number `json:"restricted_to_role_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return *badFormat("The request body is not a valid JSON object.")
	}
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		return *badFormat("name is required.")
	}
	role := 0
	if req.RoleID != nil {
		r, err := strconv.Atoi(req.RoleID.String())
		if err != nil || (r != RoleUnrestricted && !slices.ContainsFunc(AccessRoles, func(x Role) bool { return x.ID == r })) {
			return errorReply(http.StatusBadRequest, "invalid_role_id", "restricted_to_role_id is not an API access role.")
		}
		role = r
	}
	if c.role != RoleUnrestricted && role != c.role {
		return forbidden() // a restricted key makes no key stronger than itself
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ready := time.Time{}
	if s.opts.newKeyDelay > 0 {
		ready = s.now().Add(s.opts.newKeyDelay)
	}
	k, err := s.addKey(c.acct, NewKey{UserID: userID, Name: *req.Name, RoleID: role}, ready)
	if err != nil {
		return errorReply(http.StatusNotFound, "not_found|user", "The user was not found.")
	}
	return jsonReply(http.StatusCreated, s.marshal(struct {
		ID     int    `json:"id"`
		APIKey string `json:"api_key"`
	}{k.ID, k.apiKey}))
}

// setKeyStatus answers PUT /key/{id}/status with {"status": "active"|"revoked"}: 204.
func (s *Server) setKeyStatus(c caller, id int, body []byte) reply {
	if !s.managesKeys(c) || c.acct.isReadOnly() {
		return forbidden()
	}
	var req struct {
		Status *string `json:"status"`
	}
	if json.Unmarshal(body, &req) != nil || req.Status == nil || (*req.Status != KeyActive && *req.Status != KeyRevoked) {
		return *badFormat("status is required and must be active or revoked.")
	}
	if id == c.keyID && *req.Status == KeyRevoked && !s.opts.selfRevoke {
		return forbidden()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := c.acct.keyByID(id)
	if k == nil {
		return keyNotFound()
	}
	if k.Status == KeyRevoked && *req.Status == KeyRevoked && s.opts.rerevokeError {
		return errorReply(http.StatusBadRequest, "invalid_status", "The API key is already revoked.")
	}
	k.Status = *req.Status
	return noContent()
}

// isReadOnly reports Account.SetReadOnly.
func (a *Account) isReadOnly() bool {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.readOnly
}
