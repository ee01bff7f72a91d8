package certcentraltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// subscribable lists the event types a webhook can subscribe to.
var subscribable = []string{
	"certificate_issued", "certificate_revoked", "order_rejected", "domain_validated",
	"organization_validated", "domain_expired", "organization_expired",
	"domain_revalidation_notice", "organization_revalidation_notice",
}

// testEventPayload is the body of the test event.
var testEventPayload = []byte(`{"event":"test_webhook_endpoint"}`)

// route dispatches an authenticated, admitted request.
func (s *Server) route(ctx context.Context, c caller, method, path, query string, body []byte) reply {
	if path == "/key" || strings.HasPrefix(path, "/key/") {
		return s.routeKeys(c, method, path, query, body)
	}
	a := c.acct
	switch path {
	case "/webhook":
		switch method {
		case http.MethodGet:
			if !slices.Contains(s.opts.webhookReaders, c.role) {
				return forbidden()
			}
			return s.list(a)
		case http.MethodPost:
			if r, denied := s.denyWrite(c); denied {
				return r
			}
			return s.create(ctx, a, body)
		}
		return routeNotFound()
	case "/webhook/test-endpoint":
		if method != http.MethodPost {
			return routeNotFound()
		}
		if r, denied := s.denyWrite(c); denied {
			return r
		}
		return s.testEndpoint(ctx, a, body)
	}
	rest, ok := strings.CutPrefix(path, "/webhook/")
	if !ok || method != http.MethodPut {
		return routeNotFound()
	}
	idText, verb, _ := strings.Cut(rest, "/")
	id, err := strconv.Atoi(idText)
	if err != nil || id <= 0 || strconv.Itoa(id) != idText {
		return routeNotFound()
	}
	var h func() reply
	switch verb {
	case "":
		h = func() reply { return s.update(ctx, a, id, body) }
	case "send-challenge":
		h = func() reply { return s.sendChallenge(ctx, a, id) }
	case "check-challenge":
		h = func() reply { return s.checkChallenge(a, id, body) }
	case "activate":
		h = func() reply { return s.setActive(a, id, true) }
	case "deactivate":
		h = func() reply { return s.setActive(a, id, false) }
	default:
		return routeNotFound()
	}
	if r, denied := s.denyWrite(c); denied {
		return r
	}
	return h()
}

// denyWrite refuses a change to the webhook by a key whose role may not make it, or on a
// read-only account (Account.SetReadOnly).
func (s *Server) denyWrite(c caller) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.acct.readOnly || !slices.Contains(s.opts.webhookManagers, c.role) {
		return forbidden(), true
	}
	return reply{}, false
}

// forbidden is the answer to a key that may not do what it asked.
func forbidden() reply {
	return errorReply(http.StatusForbidden, "access_denied|missing_permission",
		"You do not have permission to perform this action.")
}

// list answers GET /webhook.
func (s *Server) list(a *Account) reply {
	s.mu.Lock()
	var ws []Webhook
	for _, h := range a.hooks() {
		ws = append(ws, h.clone())
	}
	hide := a.hideSecret
	s.mu.Unlock()
	if len(ws) == 0 {
		return errorReply(http.StatusBadRequest, "webhook_invalid_account", "No webhook is configured for this account.")
	}
	p := s.opts.placement
	var b bytes.Buffer
	b.WriteString(`{"webhooks":[`)
	for i, w := range ws {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":`)
		b.WriteString(strconv.Itoa(w.ID))
		b.WriteString(`,"endpoint":`)
		b.Write(s.jsonString(w.Endpoint))
		if w.Secret != "" && !hide {
			b.WriteString(`,"secret":`)
			b.Write(s.jsonString(w.Secret))
		}
		b.WriteString(`,"events":[`)
		for i, e := range w.Events {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(s.jsonString(e))
		}
		b.WriteString(`],"status":`)
		b.Write(s.jsonString(w.Status))
		if len(w.Settings) > 0 && (p == SettingsNested || p == SettingsBoth) {
			b.WriteString(`,"webhook_settings":`)
			b.Write(w.Settings)
		}
		b.WriteString(`}`)
	}
	b.WriteString(`]`)
	if w := ws[0]; len(w.Settings) > 0 && (p == SettingsTopLevel || p == SettingsBoth) {
		b.WriteString(`,"webhook_settings":`)
		b.Write(w.Settings)
	}
	b.WriteString(`}`)
	return jsonReply(http.StatusOK, b.Bytes())
}

// fields are the parsed fields of a create, update or test body.
type fields struct {
	endpoint  string
	secret    *string // nil: omitted
	events    []string
	eventsSet bool
	settings  json.RawMessage // nil: omitted; else the raw bytes sent
}

func badFormat(msg string) *reply {
	r := errorReply(http.StatusBadRequest, "bad_request_format", msg)
	return &r
}

// parseFields reads and validates a body. JSON null counts as omitted.
func (s *Server) parseFields(body []byte) (fields, *reply) {
	var f fields
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return f, badFormat("The request body is not a valid JSON object.")
	}
	present := func(k string) (json.RawMessage, bool) {
		v, ok := m[k]
		return v, ok && string(bytes.TrimSpace(v)) != "null"
	}
	raw, ok := present("endpoint")
	if !ok || json.Unmarshal(raw, &f.endpoint) != nil || !s.validEndpoint(f.endpoint) {
		r := errorReply(http.StatusBadRequest, "webhook_invalid_endpoint",
			"The endpoint is required and must be a valid URL beginning with https://.")
		return f, &r
	}
	if raw, ok := present("secret"); ok {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return f, badFormat("secret must be a string.")
		}
		f.secret = &v
	}
	if raw, ok := present("events"); ok {
		if json.Unmarshal(raw, &f.events) != nil {
			return f, badFormat("events must be an array of strings.")
		}
		for _, e := range f.events {
			if !slices.Contains(subscribable, e) {
				r := errorReply(http.StatusBadRequest, "webhook_invalid_event", "Unknown event type.")
				return f, &r
			}
		}
		if f.events == nil {
			f.events = []string{}
		}
		f.eventsSet = true
	}
	if raw, ok := present("webhook_settings"); ok {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return f, badFormat("webhook_settings must be an object.")
		}
		f.settings = slices.Clone(raw)
	}
	return f, nil
}

func (s *Server) validEndpoint(e string) bool {
	if !strings.HasPrefix(e, "https://") && !(s.opts.allowHTTP && strings.HasPrefix(e, "http://")) {
		return false
	}
	u, err := url.Parse(e)
	return err == nil && u.Host != ""
}

// validSecret checks a secret that is being set; "" removes it.
func (s *Server) validSecret(secret *string) *reply {
	if secret == nil || *secret == "" || utf8.RuneCountInString(*secret) >= s.opts.minSecretLen {
		return nil
	}
	r := errorReply(http.StatusBadRequest, "webhook_invalid_secret",
		"The secret must be at least "+strconv.Itoa(s.opts.minSecretLen)+" characters long.")
	return &r
}

func endpointError() reply {
	return errorReply(http.StatusBadRequest, "webhook_endpoint_error",
		"The webhook endpoint could not be reached or did not return a 2xx response.")
}

// create answers POST /webhook.
func (s *Server) create(ctx context.Context, a *Account, body []byte) reply {
	a.op.Lock()
	defer a.op.Unlock()
	if a.HasWebhook() {
		return errorReply(http.StatusBadRequest, "webhook_configured_already", "A webhook is already configured for this account.")
	}
	f, bad := s.parseFields(body)
	if bad != nil {
		return *bad
	}
	if bad := s.validSecret(f.secret); bad != nil {
		return *bad
	}
	secret := ""
	if f.secret != nil {
		secret = *f.secret
	}
	if s.opts.contact != ContactNever {
		if _, err := s.deliver(ctx, a.fp, f.endpoint, secret, "test_webhook_endpoint", testEventPayload); err != nil {
			return endpointError()
		}
	}
	w := Webhook{Endpoint: f.endpoint, Secret: secret, Events: f.events, Status: StatusPending, Settings: f.settings}
	s.mu.Lock()
	w.ID = s.nextID
	s.nextID++
	if w.Events == nil {
		w.Events = []string{}
	}
	if w.Settings == nil {
		w.Settings = slices.Clone(DefaultSettings)
	}
	a.hook = &hookState{Webhook: w, tokens: map[string]time.Time{}}
	s.mu.Unlock()
	return jsonReply(http.StatusCreated, []byte(`{"webhook_id":`+strconv.Itoa(w.ID)+`}`))
}

// current returns a copy of the account's webhook if it has this id.
func (s *Server) current(a *Account, id int) (Webhook, *reply) {
	w, ok := a.WebhookByID(id)
	if !ok {
		r := errorReply(http.StatusNotFound, "not_found|webhook", "The webhook was not found.")
		return w, &r
	}
	return w, nil
}

// update answers PUT /webhook/{id}.
func (s *Server) update(ctx context.Context, a *Account, id int, body []byte) reply {
	a.op.Lock()
	defer a.op.Unlock()
	old, bad := s.current(a, id)
	if bad != nil {
		return *bad
	}
	f, bad := s.parseFields(body)
	if bad != nil {
		return *bad
	}
	if bad := s.validSecret(f.secret); bad != nil {
		return *bad
	}
	secret := old.Secret
	if f.secret != nil {
		secret = *f.secret
	}
	changed := f.endpoint != old.Endpoint || secret != old.Secret
	if s.opts.contact == ContactAlways || (s.opts.contact == ContactOnChange && changed) {
		if _, err := s.deliver(ctx, a.fp, f.endpoint, secret, "test_webhook_endpoint", testEventPayload); err != nil {
			return endpointError()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := a.hookByID(id)
	if h == nil { // removed out of band meanwhile
		return errorReply(http.StatusNotFound, "not_found|webhook", "The webhook was not found.")
	}
	if f.endpoint != h.Endpoint {
		h.Status = StatusPending
		h.verified = false
		clear(h.tokens)
	}
	h.Endpoint = f.endpoint
	if f.secret != nil {
		h.Secret = *f.secret
	}
	if f.eventsSet {
		h.Events = f.events
	}
	switch {
	case f.settings != nil:
		h.Settings = f.settings
	case s.opts.resetSettings:
		h.Settings = slices.Clone(DefaultSettings)
	}
	return noContent()
}

// testEndpoint answers POST /webhook/test-endpoint.
func (s *Server) testEndpoint(ctx context.Context, a *Account, body []byte) reply {
	f, bad := s.parseFields(body)
	if bad != nil {
		return *bad
	}
	secret := ""
	if f.secret != nil {
		secret = *f.secret
	}
	if _, err := s.deliver(ctx, a.fp, f.endpoint, secret, "test_webhook_endpoint", testEventPayload); err != nil {
		return endpointError()
	}
	return reply{status: http.StatusOK, header: http.Header{}}
}

// sendChallenge answers PUT /webhook/{id}/send-challenge.
func (s *Server) sendChallenge(ctx context.Context, a *Account, id int) reply {
	a.op.Lock()
	defer a.op.Unlock()
	w, bad := s.current(a, id)
	if bad != nil {
		return *bad
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	payload, _ := eventPayload("challenge_webhook_endpoint", map[string]any{"token": token, "webhook_id": id})
	if _, err := s.deliver(ctx, a.fp, w.Endpoint, w.Secret, "challenge_webhook_endpoint", payload); err != nil {
		return endpointError()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := a.hookByID(id); h != nil {
		h.tokens[token] = s.now().Add(s.opts.challengeTTL)
	}
	return noContent()
}

// checkChallenge answers PUT /webhook/{id}/check-challenge.
func (s *Server) checkChallenge(a *Account, id int, body []byte) reply {
	if _, bad := s.current(a, id); bad != nil {
		return *bad
	}
	var req struct {
		Token *string `json:"token"`
	}
	if json.Unmarshal(body, &req) != nil || req.Token == nil {
		return *badFormat("token is required.")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	h := a.hookByID(id)
	if h == nil {
		return errorReply(http.StatusNotFound, "not_found|webhook", "The webhook was not found.")
	}
	exp, ok := h.tokens[*req.Token]
	if !ok || !now.Before(exp) {
		return errorReply(http.StatusBadRequest, "webhook_invalid_token", "The token is invalid or has expired.")
	}
	delete(h.tokens, *req.Token)
	h.verified = true
	if s.opts.challengeActivates {
		h.Status = StatusActive
	}
	return noContent()
}

// setActive answers PUT /webhook/{id}/activate and /deactivate.
func (s *Server) setActive(a *Account, id int, active bool) reply {
	if _, bad := s.current(a, id); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := a.hookByID(id)
	if h == nil {
		return errorReply(http.StatusNotFound, "not_found|webhook", "The webhook was not found.")
	}
	invalid := func(msg string) reply {
		return errorReply(http.StatusBadRequest, "webhook_invalid_action", msg)
	}
	if active {
		switch {
		case h.Status == StatusActive:
			return invalid("The webhook is already active.")
		case !h.verified:
			return invalid("The webhook endpoint has not been verified; complete the challenge first.")
		}
		h.Status = StatusActive
		return noContent()
	}
	if h.Status == StatusInactive {
		return invalid("The webhook is already inactive.")
	}
	h.Status = StatusInactive
	return noContent()
}
