package certcentral

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Webhook statuses.
const (
	StatusPending  = "pending"
	StatusActive   = "active"
	StatusInactive = "inactive"
)

// Event types DigiCert delivers to a webhook.
const (
	EventCertificateIssued              = "certificate_issued"
	EventCertificateRevoked             = "certificate_revoked"
	EventOrderRejected                  = "order_rejected"
	EventDomainValidated                = "domain_validated"
	EventOrganizationValidated          = "organization_validated"
	EventDomainExpired                  = "domain_expired"
	EventOrganizationExpired            = "organization_expired"
	EventDomainRevalidationNotice       = "domain_revalidation_notice"
	EventOrganizationRevalidationNotice = "organization_revalidation_notice"
	EventTestWebhookEndpoint            = "test_webhook_endpoint"
	EventChallengeWebhookEndpoint       = "challenge_webhook_endpoint"
)

// Webhook is the account's webhook as returned by GET /webhook.
//
// Formatting a Webhook with fmt (any verb, including %+v and %#v) or
// marshaling it to JSON never shows Secret.
type Webhook struct {
	ID       int    // webhook_id used in paths
	Endpoint string // listener URL, exactly as returned (after JSON decoding)
	// Secret is the current secret when SecretReturned; DigiCert omits the
	// field when no secret is configured and may omit it anyway.
	Secret         string
	SecretReturned bool
	Events         []string // subscribed event types
	Status         string   // StatusPending, StatusActive or StatusInactive
	// Settings is webhook_settings exactly as the bytes read (nested in the
	// webhook item, else the list's top level); nil when not returned.
	Settings json.RawMessage
}

func (w Webhook) secretLabel() string {
	switch {
	case !w.SecretReturned:
		return "<not returned>"
	case w.Secret == "":
		return "<none>"
	default:
		return redactedText
	}
}

// String describes the webhook with the secret redacted.
func (w Webhook) String() string {
	return fmt.Sprintf("{ID:%d Endpoint:%s Secret:%s Events:%v Status:%s Settings:%s}",
		w.ID, w.Endpoint, w.secretLabel(), w.Events, w.Status, settingsText(w.Settings))
}

// GoString is like String, for %#v.
func (w Webhook) GoString() string {
	return fmt.Sprintf("certcentral.Webhook{ID:%d, Endpoint:%q, Secret:%q, SecretReturned:%t, Events:%#v, Status:%q, Settings:%q}",
		w.ID, w.Endpoint, w.secretLabel(), w.SecretReturned, w.Events, w.Status, settingsText(w.Settings))
}

// Format implements fmt.Formatter so that no verb reveals the secret.
func (w Webhook) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, w.GoString())
	case verb == 'q':
		io.WriteString(f, strconv.Quote(w.String()))
	default:
		io.WriteString(f, w.String())
	}
}

// MarshalJSON implements json.Marshaler without the secret: it writes
// "secret_returned" and "has_secret" instead.
func (w Webhook) MarshalJSON() ([]byte, error) {
	type view struct {
		ID             int             `json:"id"`
		Endpoint       string          `json:"endpoint"`
		SecretReturned bool            `json:"secret_returned"`
		HasSecret      bool            `json:"has_secret"`
		Events         []string        `json:"events"`
		Status         string          `json:"status"`
		Settings       json.RawMessage `json:"webhook_settings,omitempty"`
	}
	v := view{ID: w.ID, Endpoint: w.Endpoint, SecretReturned: w.SecretReturned,
		HasSecret: w.Secret != "", Events: w.Events, Status: w.Status}
	if json.Valid(w.Settings) {
		v.Settings = w.Settings
	}
	return json.Marshal(v)
}

func settingsText(raw json.RawMessage) string {
	if raw == nil {
		return "<none>"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "<invalid>"
	}
	return b.String()
}

// wireWebhook is one item of the list response. Unknown fields are ignored.
type wireWebhook struct {
	ID       flexInt         `json:"id"`
	Endpoint string          `json:"endpoint"`
	Secret   *string         `json:"secret"`
	Events   []string        `json:"events"`
	Status   string          `json:"status"`
	Settings json.RawMessage `json:"webhook_settings"`
}

type wireList struct {
	Webhooks json.RawMessage `json:"webhooks"`
	Settings json.RawMessage `json:"webhook_settings"`
}

// decodeList parses a GET /webhook body. Settings nested in an item win over
// top-level ones. Every webhook must have a positive id and an endpoint.
func decodeList(body []byte) ([]Webhook, error) {
	var l wireList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, err
	}
	if l.Webhooks == nil {
		return nil, fmt.Errorf("no \"webhooks\" field")
	}
	var items []wireWebhook // JSON null: none
	if err := json.Unmarshal(l.Webhooks, &items); err != nil {
		return nil, err
	}
	top := presentRaw(l.Settings)
	out := make([]Webhook, 0, len(items))
	for i, ww := range items {
		if ww.ID <= 0 || int64(int(ww.ID)) != int64(ww.ID) {
			return nil, fmt.Errorf("webhook %d: invalid id", i)
		}
		if ww.Endpoint == "" {
			return nil, fmt.Errorf("webhook %d: no endpoint", i)
		}
		w := Webhook{ID: int(ww.ID), Endpoint: ww.Endpoint, Events: ww.Events, Status: ww.Status}
		if ww.Secret != nil {
			w.Secret, w.SecretReturned = *ww.Secret, true
		}
		if s := presentRaw(ww.Settings); s != nil {
			w.Settings = s
		} else if top != nil {
			w.Settings = append(json.RawMessage(nil), top...)
		}
		out = append(out, w)
	}
	return out, nil
}

// presentRaw returns raw, or nil when it is absent or JSON null.
func presentRaw(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	return raw
}

// flexInt decodes an integer sent either as a JSON number or as a string of
// digits.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	*n = flexInt(v)
	return nil
}
