package certcentral

import (
	"errors"
	"testing"

	"github.com/keyroll/keyroll/rotate"
)

// TestAdaptErr: the adapter's errors for rotate keep their text and cause, name the HTTP
// status and the evidence code, and mark webhook_endpoint_error as rotate's
// ErrListenerRejected.
func TestAdaptErr(t *testing.T) {
	for _, tt := range []struct {
		err      error
		rejected bool
		status   int
		code     string
	}{
		{&APIError{Method: "POST", Path: "/webhook/test-endpoint", Status: 400, Errors: []ErrorDetail{{Code: CodeWebhookEndpointError}}}, true, 400, "digicert_error"},
		{&APIError{Method: "GET", Path: "/webhook", Status: 401}, false, 401, "digicert_credentials_rejected"},
		{&APIError{Method: "PUT", Path: "/webhook/1", Status: 503}, false, 503, "digicert_unavailable"},
		{&APIError{Method: "PUT", Path: "/webhook/1", Status: 400}, false, 400, "digicert_error"},
		{&TransportError{Err: errors.New("connection refused")}, false, 0, "digicert_unavailable"},
	} {
		got := adaptErr(tt.err)
		var st interface{ HTTPStatus() int }
		var cd interface{ EvidenceCode() string }
		if !errors.As(got, &st) || !errors.As(got, &cd) {
			t.Fatalf("%v: no HTTPStatus or EvidenceCode", tt.err)
		}
		if errors.Is(got, rotate.ErrListenerRejected) != tt.rejected || st.HTTPStatus() != tt.status || cd.EvidenceCode() != tt.code || !errors.Is(got, tt.err) {
			t.Errorf("%v: rejected %t, status %d, code %q", tt.err, errors.Is(got, rotate.ErrListenerRejected), st.HTTPStatus(), cd.EvidenceCode())
		}
		if !tt.rejected && got.Error() != tt.err.Error() {
			t.Errorf("text changed: %q, want %q", got, tt.err)
		}
	}
	if adaptErr(nil) != nil {
		t.Error("adaptErr(nil) is not nil")
	}
}
