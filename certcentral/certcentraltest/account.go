package certcentraltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Webhook statuses.
const (
	StatusPending  = "pending"
	StatusActive   = "active"
	StatusInactive = "inactive"
)

// Webhook is the simulated state of an account's webhook, including the real
// secret.
type Webhook struct {
	ID       int
	Endpoint string
	Secret   string // "" when none is configured
	Events   []string
	Status   string
	Settings json.RawMessage // stored and returned byte for byte
}

func (w Webhook) clone() Webhook {
	w.Events = slices.Clone(w.Events)
	w.Settings = slices.Clone(w.Settings)
	return w
}

// hookState is a webhook plus what the API does not show.
type hookState struct {
	Webhook
	verified bool                 // endpoint passed a challenge
	tokens   map[string]time.Time // challenge token → expiry
}

// Account is one simulated CertCentral account with users and their API keys
// (AddAccount makes one of each) and one webhook, as DigiCert has (or, for fleet
// benchmarks, several: see AddWebhook). Its methods change the state directly, as
// someone in the CertCentral UI would, bypassing the API, its validation and rate
// limits.
type Account struct {
	s  *Server
	fp string     // Fingerprint of the account's first key: the account's name
	op sync.Mutex // serializes API mutations, including their deliveries

	// guarded by s.mu
	users      []User       // the first one holds the first key
	keys       []*keyState  // in the order made
	hook       *hookState   // the account's webhook (the first one)
	more       []*hookState // further webhooks added by AddWebhook; nil by default
	hideSecret bool
	readOnly   bool
}

// hookByID returns the account's webhook with this id, or nil; s.mu must be
// held.
func (a *Account) hookByID(id int) *hookState {
	if a.hook != nil && a.hook.ID == id {
		return a.hook
	}
	for _, h := range a.more {
		if h.ID == id {
			return h
		}
	}
	return nil
}

// hooks returns every webhook of the account, the first one first; s.mu must
// be held.
func (a *Account) hooks() []*hookState {
	if a.hook == nil {
		return nil
	}
	return append([]*hookState{a.hook}, a.more...)
}

// ErrNoWebhook is returned by Account methods that need a webhook when the
// account has none.
var ErrNoWebhook = errors.New("certcentraltest: account has no webhook")

// ErrNotActive is returned by Deliver when the webhook is not active: DigiCert
// sends no events to a pending or inactive webhook.
var ErrNotActive = errors.New("certcentraltest: webhook is not active")

// Fingerprint returns the fingerprint of the API key the account was added with: the
// account's name in logs (Delivery.AccountFingerprint, Key.Account).
func (a *Account) Fingerprint() string { return a.fp }

// SetWebhook seeds or replaces the account's webhook and returns its id. A
// zero ID keeps the current webhook's id or assigns a new one; an empty
// Status means active; nil Settings means DefaultSettings. An active or
// inactive webhook counts as verified.
func (a *Account) SetWebhook(w Webhook) int {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.ID == 0 && a.hook != nil {
		w.ID = a.hook.ID
	}
	a.hook = s.seedHook(w)
	return a.hook.ID
}

// AddWebhook seeds one more webhook on the account and returns its id; on an
// account without a webhook it is SetWebhook. DigiCert allows one webhook per
// account; several let one API key (and its rate limits) serve a fleet of
// webhooks in benchmarks and load tests. GET /webhook then lists them all,
// first the one SetWebhook manages, and the calls that take an id (PUT
// /webhook/{id} and its actions) address each one. A zero ID assigns a new
// one; a non-zero ID must not be in use on the account. The same defaults as
// SetWebhook apply. The Account methods without an id (Webhook, SetSecret,
// SetStatus, SetEndpoint, Deliver) keep acting on the first webhook; see
// WebhookByID and Webhooks for the others.
func (a *Account) AddWebhook(w Webhook) int {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.ID != 0 && a.hookByID(w.ID) != nil {
		panic(fmt.Sprintf("certcentraltest: AddWebhook: id %d is already in use on the account", w.ID))
	}
	h := s.seedHook(w)
	if a.hook == nil {
		a.hook = h
	} else {
		a.more = append(a.more, h)
	}
	return h.ID
}

// seedHook normalizes a seeded webhook and assigns its id; s.mu must be held.
func (s *Server) seedHook(w Webhook) *hookState {
	w = w.clone()
	if w.ID == 0 {
		w.ID = s.nextID
		s.nextID++
	} else if w.ID >= s.nextID {
		s.nextID = w.ID + 1
	}
	if w.Status == "" {
		w.Status = StatusActive
	}
	if w.Settings == nil {
		w.Settings = slices.Clone(DefaultSettings)
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	return &hookState{Webhook: w, verified: w.Status != StatusPending, tokens: map[string]time.Time{}}
}

// WebhookByID returns a copy of the account's webhook with this id, and
// whether there is one.
func (a *Account) WebhookByID(id int) (Webhook, bool) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	h := a.hookByID(id)
	if h == nil {
		return Webhook{}, false
	}
	return h.clone(), true
}

// Webhooks returns copies of all the account's webhooks, as GET /webhook
// lists them.
func (a *Account) Webhooks() []Webhook {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	var out []Webhook
	for _, h := range a.hooks() {
		out = append(out, h.clone())
	}
	return out
}

// Webhook returns a copy of the webhook's state; the zero Webhook when there
// is none.
func (a *Account) Webhook() Webhook {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.hook == nil {
		return Webhook{}
	}
	return a.hook.clone()
}

// HasWebhook reports whether the account has a webhook.
func (a *Account) HasWebhook() bool {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.hook != nil
}

// RemoveWebhook deletes the webhook (and any added by AddWebhook).
func (a *Account) RemoveWebhook() {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.hook, a.more = nil, nil
}

// SetSecret changes the secret out of band, as someone in the UI would; ""
// removes it.
func (a *Account) SetSecret(secret string) error {
	return a.mutate(func(h *hookState) { h.Secret = secret })
}

// SetStatus changes the status out of band.
func (a *Account) SetStatus(status string) error {
	return a.mutate(func(h *hookState) {
		h.Status = status
		if status != StatusPending {
			h.verified = true
		}
	})
}

// SetEndpoint changes the endpoint out of band; unlike an API update it leaves
// the status alone.
func (a *Account) SetEndpoint(endpoint string) error {
	return a.mutate(func(h *hookState) { h.Endpoint = endpoint })
}

func (a *Account) mutate(f func(*hookState)) error {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.hook == nil {
		return ErrNoWebhook
	}
	f(a.hook)
	return nil
}

// HideSecret makes GET /webhook omit (true) or return (false) this account's
// secret.
func (a *Account) HideSecret(hide bool) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.hideSecret = hide
}

// SetReadOnly makes every call but GET answer 403
// access_denied|missing_permission, like a key without write permission.
func (a *Account) SetReadOnly(ro bool) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.readOnly = ro
}

// Deliver sends an ordinary event, {"event": event, "data": data} (data
// omitted when nil), to the webhook's endpoint with the current secret as
// X-WEBHOOK-KEY, as DigiCert does when something happens. It returns the
// listener's status; err is non-nil when the webhook is missing or not
// active, the data does not marshal, or the listener was unreachable or did
// not answer 2xx.
func (a *Account) Deliver(ctx context.Context, event string, data any) (int, error) {
	w := a.Webhook()
	if w.ID == 0 {
		return 0, ErrNoWebhook
	}
	if w.Status != StatusActive {
		return 0, fmt.Errorf("%w (status %s)", ErrNotActive, w.Status)
	}
	payload, err := eventPayload(event, data)
	if err != nil {
		return 0, err
	}
	return a.s.deliver(ctx, a.fp, w.Endpoint, w.Secret, event, payload)
}

func eventPayload(event string, data any) ([]byte, error) {
	msg := struct {
		Event string `json:"event"`
		Data  any    `json:"data,omitempty"`
	}{event, data}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("certcentraltest: event data: %w", err)
	}
	return b, nil
}
