package certcentral

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyroll/keyroll/rotate"
)

// RotateAPI adapts a Client to rotate's WebhookAPI port. A webhook_endpoint_error (the
// endpoint did not answer a delivery with the new secret with a 2xx) wraps
// rotate.ErrListenerRejected; every error names its HTTP status and its evidence code.
type RotateAPI struct {
	Client *Client
}

var _ rotate.WebhookAPI = RotateAPI{}

// GetWebhook reads the webhook as rotate's live state.
func (a RotateAPI) GetWebhook(ctx context.Context, id int) (rotate.Live, error) {
	w, err := a.Client.GetWebhook(ctx, id)
	if err != nil {
		return rotate.Live{}, &rotateError{err}
	}
	return rotate.Live{ID: w.ID, Endpoint: w.Endpoint, Secret: w.Secret, SecretReturned: w.SecretReturned,
		Events: w.Events, Active: w.Status == StatusActive, Status: w.Status, Settings: w.Settings}, nil
}

// UpdateWebhook pushes the secret, the endpoint and the settings of u.
func (a RotateAPI) UpdateWebhook(ctx context.Context, id int, u rotate.Update) error {
	// DigiCert may contact the endpoint with the new key before applying an update.
	return adaptErr(a.Client.UpdateWebhook(ctx, id, UpdateRequest{Endpoint: u.Endpoint, Secret: SecretValue(u.Secret), Settings: u.Settings}))
}

// TestEndpoint asks DigiCert for a test event with secret.
func (a RotateAPI) TestEndpoint(ctx context.Context, endpoint, secret string) error {
	return adaptErr(a.Client.TestEndpoint(ctx, endpoint, SecretValue(secret)))
}

func adaptErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.HasCode(CodeWebhookEndpointError) {
		err = fmt.Errorf("%w: %w", rotate.ErrListenerRejected, err)
	}
	return &rotateError{err}
}

// rotateError is an error of the client as rotate sees it; its text is the error's own.
type rotateError struct{ err error }

func (e *rotateError) Error() string { return e.err.Error() }
func (e *rotateError) Unwrap() error { return e.err }

// HTTPStatus is DigiCert's status for an *APIError, else 0.
func (e *rotateError) HTTPStatus() int {
	var ae *APIError
	if errors.As(e.err, &ae) {
		return ae.Status
	}
	return 0
}

// EvidenceCode names the failure in an evidence record.
func (e *rotateError) EvidenceCode() string {
	var ae *APIError
	switch {
	case IsCredentialsRejected(e.err):
		return "digicert_credentials_rejected"
	case IsRetryable(e.err):
		return "digicert_unavailable"
	case errors.As(e.err, &ae):
		return "digicert_error"
	}
	return ""
}
