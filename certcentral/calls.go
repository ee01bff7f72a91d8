package certcentral

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ListWebhooks returns the account's webhooks (GET /webhook). An account
// without a webhook is an error matching ErrNoWebhook (DigiCert answers 400
// webhook_invalid_account).
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	const path = "/webhook"
	res, err := c.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	ws, err := decodeList(res.body)
	if err != nil {
		return nil, fmt.Errorf("certcentral: GET %s: %w: %s", path, ErrMalformedResponse, clean(err.Error(), 200))
	}
	for _, w := range ws {
		c.remember(w.Secret)
	}
	return ws, nil
}

// GetWebhook returns the webhook with the given id, or the account's one
// webhook when id is 0. It lists the webhooks and picks one: an account
// without webhooks, or without this id, gives an error matching ErrNoWebhook;
// id 0 on an account with several gives ErrAmbiguousWebhook.
func (c *Client) GetWebhook(ctx context.Context, id int) (Webhook, error) {
	ws, err := c.ListWebhooks(ctx)
	if err != nil {
		return Webhook{}, err
	}
	if id == 0 {
		switch len(ws) {
		case 0:
			return Webhook{}, fmt.Errorf("certcentral: GET /webhook: account lists no webhook: %w", ErrNoWebhook)
		case 1:
			return ws[0], nil
		default:
			return Webhook{}, fmt.Errorf("certcentral: GET /webhook: %w (ids %s): set the webhook id", ErrAmbiguousWebhook, idList(ws))
		}
	}
	for _, w := range ws {
		if w.ID == id {
			return w, nil
		}
	}
	return Webhook{}, fmt.Errorf("certcentral: GET /webhook: webhook %d not found (account has %s): %w", id, idList(ws), ErrNoWebhook)
}

func idList(ws []Webhook) string {
	if len(ws) == 0 {
		return "none"
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = strconv.Itoa(w.ID)
	}
	return strings.Join(ids, ", ")
}

// CreateWebhook creates the account's webhook (POST /webhook) and returns its
// id. DigiCert contacts the endpoint first; a listener that does not answer
// 2xx gives webhook_endpoint_error. A retried create whose first attempt was
// applied fails with webhook_configured_already.
func (c *Client) CreateWebhook(ctx context.Context, req CreateRequest) (int, error) {
	const path = "/webhook"
	body, err := req.encode()
	if err != nil {
		return 0, fmt.Errorf("certcentral: POST %s: %w", path, err)
	}
	res, err := c.do(ctx, call{method: http.MethodPost, path: path, body: body, redact: []string{req.Secret.value}})
	if err != nil {
		return 0, err
	}
	var out struct {
		ID flexInt `json:"webhook_id"`
	}
	if err := json.Unmarshal(res.body, &out); err != nil || out.ID <= 0 {
		return 0, fmt.Errorf("certcentral: POST %s: %w: no webhook_id", path, ErrMalformedResponse)
	}
	return int(out.ID), nil
}

// UpdateWebhook replaces the webhook's fields (PUT /webhook/{id}); see
// UpdateRequest for what is sent. DigiCert answers 204. Retrying an update is
// safe: the same body applied twice has the same effect.
func (c *Client) UpdateWebhook(ctx context.Context, id int, req UpdateRequest) error {
	path, err := webhookPath(id, "")
	if err != nil {
		return fmt.Errorf("certcentral: PUT /webhook/%d: %w", id, err)
	}
	body, err := req.encode()
	if err != nil {
		return fmt.Errorf("certcentral: PUT %s: %w", path, err)
	}
	_, err = c.do(ctx, call{method: http.MethodPut, path: path, body: body, redact: []string{req.Secret.value}})
	return err
}

// TestEndpoint asks DigiCert to deliver a test_webhook_endpoint event to
// endpoint with secret as X-WEBHOOK-KEY (POST /webhook/test-endpoint). A
// listener that does not answer 2xx gives webhook_endpoint_error.
func (c *Client) TestEndpoint(ctx context.Context, endpoint string, secret Secret) error {
	const path = "/webhook/test-endpoint"
	body, err := testRequestBody(endpoint, secret)
	if err != nil {
		return fmt.Errorf("certcentral: POST %s: %w", path, err)
	}
	_, err = c.do(ctx, call{method: http.MethodPost, path: path, body: body, redact: []string{secret.value}})
	return err
}

// SendChallenge asks DigiCert to deliver a challenge_webhook_endpoint event
// with a fresh token to the webhook's endpoint (PUT /webhook/{id}/send-challenge).
func (c *Client) SendChallenge(ctx context.Context, id int) error {
	return c.action(ctx, id, "send-challenge", nil)
}

// CheckChallenge verifies the token the listener received
// (PUT /webhook/{id}/check-challenge). A wrong or expired token gives
// webhook_invalid_token.
func (c *Client) CheckChallenge(ctx context.Context, id int, token string) error {
	var b bytes.Buffer
	b.WriteString(`{"token":`)
	writeJSON(&b, token)
	b.WriteString(`}`)
	return c.action(ctx, id, "check-challenge", b.Bytes())
}

// Activate activates the webhook (PUT /webhook/{id}/activate).
func (c *Client) Activate(ctx context.Context, id int) error {
	return c.action(ctx, id, "activate", nil)
}

// Deactivate deactivates the webhook (PUT /webhook/{id}/deactivate).
func (c *Client) Deactivate(ctx context.Context, id int) error {
	return c.action(ctx, id, "deactivate", nil)
}

func (c *Client) action(ctx context.Context, id int, verb string, body []byte) error {
	path, err := webhookPath(id, verb)
	if err != nil {
		return fmt.Errorf("certcentral: PUT /webhook/%d/%s: %w", id, verb, err)
	}
	_, err = c.do(ctx, call{method: http.MethodPut, path: path, body: body})
	return err
}

func webhookPath(id int, verb string) (string, error) {
	if id <= 0 {
		return "", fmt.Errorf("%w: webhook id must be positive", ErrInvalidRequest)
	}
	p := "/webhook/" + strconv.Itoa(id)
	if verb != "" {
		p += "/" + verb
	}
	return p, nil
}
