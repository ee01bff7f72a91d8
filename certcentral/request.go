package certcentral

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// UpdateRequest is the body of PUT /webhook/{id} (and of POST /webhook, see
// [CreateRequest]).
//
// The body is written so that what the server decodes equals the fields
// byte for byte: strings are encoded without HTML escaping and Settings is
// copied verbatim.
type UpdateRequest struct {
	// Endpoint is required. For a rotation it must be the endpoint read from
	// GET /webhook, unchanged: a different endpoint sends the webhook back
	// through verification.
	Endpoint string
	// Secret is omitted (NoSecret, the zero value), sent as "" (RemoveSecret)
	// or sent as a value (SecretValue).
	Secret Secret
	// Events is omitted when nil, which leaves the subscriptions unchanged; a
	// non-nil empty slice is sent as [].
	Events []string
	// Settings is webhook_settings, sent verbatim when non-nil (it must be
	// valid JSON) and omitted when nil.
	Settings json.RawMessage
}

// CreateRequest is the body of POST /webhook; it has the same fields as an
// update.
type CreateRequest = UpdateRequest

// encode writes the JSON body.
func (r UpdateRequest) encode() ([]byte, error) {
	if r.Endpoint == "" {
		return nil, fmt.Errorf("%w: endpoint is required", ErrInvalidRequest)
	}
	if !utf8.ValidString(r.Endpoint) {
		return nil, fmt.Errorf("%w: endpoint is not valid UTF-8 and cannot be sent unchanged", ErrInvalidRequest)
	}
	var b bytes.Buffer
	b.WriteString(`{"endpoint":`)
	writeJSON(&b, r.Endpoint)
	if r.Secret.set {
		if !utf8.ValidString(r.Secret.value) {
			return nil, fmt.Errorf("%w: secret is not valid UTF-8", ErrInvalidRequest)
		}
		b.WriteString(`,"secret":`)
		writeJSON(&b, r.Secret.value)
	}
	if r.Events != nil {
		b.WriteString(`,"events":`)
		writeJSON(&b, r.Events)
	}
	if r.Settings != nil {
		if !json.Valid(r.Settings) {
			return nil, fmt.Errorf("%w: webhook_settings is not valid JSON", ErrInvalidRequest)
		}
		b.WriteString(`,"webhook_settings":`)
		b.Write(r.Settings)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSON encodes v (a string or a []string) without HTML escaping.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)       // strings and string slices always encode
	b.Truncate(b.Len() - 1) // drop Encode's newline
}

// testRequest is the body of POST /webhook/test-endpoint.
func testRequestBody(endpoint string, secret Secret) ([]byte, error) {
	if endpoint == "" {
		return nil, fmt.Errorf("%w: endpoint is required", ErrInvalidRequest)
	}
	return UpdateRequest{Endpoint: endpoint, Secret: secret}.encode()
}
