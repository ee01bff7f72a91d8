package rotate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
)

// The ports: what a rotation needs from the store that keeps the key documents and from
// the service that sends the secret, in this package's own types. The vault package
// adapts Vault's KV v2 engine to KeyStore (vault.RotateStore) and the certcentral package
// DigiCert's webhook API to WebhookAPI (certcentral.RotateAPI). The API-key kind brings
// its own port, KeysAPI (certcentral.KeysRotator), and reuses KeyStore (docs/design.md,
// "The API key").

// Errors a KeyStore's errors wrap (errors.Is) for the outcomes a rotation branches on.
var (
	// ErrNotFound: the document does not exist, or its latest version is deleted.
	ErrNotFound = failure.New(failure.Retryable, "document not found")
	// ErrConflict: a check-and-set write lost against another writer.
	ErrConflict = failure.New(failure.Retryable, "check-and-set conflict")
)

// Versioned is a document as a KeyStore read it.
type Versioned struct {
	Doc keyset.Document
	// Version is the document's version: 0 when never written; a deleted latest version
	// reads as an empty document at that version, with an error wrapping ErrNotFound.
	Version int
	// Meta is the document's non-secret metadata (nil if none); the binding is in it.
	Meta map[string]string
	// MaxVersions is how many versions the store keeps of this document, as recorded by
	// the last WriteMetadata (0: unknown, every version may still be kept).
	MaxVersions int
}

// KeyStore holds the target documents, versioned and written only with check-and-set.
type KeyStore interface {
	// Read returns the latest version of the document at path.
	Read(ctx context.Context, path string) (Versioned, error)
	// Write stores doc as version cas+1 if the latest version is cas (0: the path is
	// new), and returns the new version; otherwise an error wrapping ErrConflict.
	Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error)
	// WriteMetadata records the document's non-secret metadata, and makes the store keep
	// no more than MaxVersions versions of it from the next write on.
	WriteMetadata(ctx context.Context, path string, meta map[string]string) error
	// Destroy permanently removes the data of the given versions of path.
	Destroy(ctx context.Context, path string, versions []int) error
	// MaxVersions is how many versions of a document the store keeps once WriteMetadata
	// wrote its metadata.
	MaxVersions() int
}

// Live is a secret's live state at the service that sends it: for DigiCert, the webhook
// as read. Formatting a Live with fmt never shows Secret.
type Live struct {
	ID       int    // the service's id of the secret's holder (DigiCert's webhook_id)
	Endpoint string // where the service delivers with the secret
	// Secret is the service's secret when SecretReturned; a service may not return it.
	Secret         string
	SecretReturned bool
	Events         []string
	// Active says the service uses the secret; Status is the service's word for it.
	Active bool
	Status string
	// Settings are the service's other settings as read, sent back unchanged by a push.
	Settings json.RawMessage
}

// Format implements fmt.Formatter: every verb prints the live state with the secret's
// fingerprint only.
func (l Live) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, fmt.Sprintf("{ID:%d Endpoint:%s Status:%s Events:%v %s}", l.ID, l.Endpoint, l.Status, l.Events, liveDetail(l)))
}

// Update is what a push changes at the service: the secret, with the endpoint and the
// settings as read.
type Update struct {
	Endpoint string
	Secret   string
	Settings json.RawMessage
}

// WebhookAPI is the part of the sending service's API a rotation uses.
type WebhookAPI interface {
	// GetWebhook reads the live state of webhook id.
	GetWebhook(ctx context.Context, id int) (Live, error)
	// UpdateWebhook pushes u to webhook id. An error wraps ErrListenerRejected when the
	// service tried the new secret on the endpoint and was refused.
	UpdateWebhook(ctx context.Context, id int, u Update) error
	// TestEndpoint asks the service to deliver a test event with secret to endpoint. An
	// error wraps ErrListenerRejected when the endpoint did not answer 2xx.
	TestEndpoint(ctx context.Context, endpoint, secret string) error
}

// Recorder receives one evidence record per rotation attempt; evidence.Sink implements it.
type Recorder interface {
	Emit(ctx context.Context, rec evidence.Record) error
}

// Errors of adapters may implement these to name themselves in evidence records and steps.
type (
	// coded names a failure for an evidence record's error code, e.g. "vault_unavailable"
	// ("" lets the rest of the chain decide).
	coded interface{ EvidenceCode() string }
	// httpStatused carries the HTTP status of a failed call to the service.
	httpStatused interface{ HTTPStatus() int }
)
