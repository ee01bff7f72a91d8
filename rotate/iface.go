package rotate

import (
	"context"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// KeyStore holds the target documents; *vault.Store implements it.
type KeyStore interface {
	Read(ctx context.Context, path string) (vault.Versioned, error)
	Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error)
	WriteMetadata(ctx context.Context, path string, meta map[string]string) error
	// Destroy permanently removes the data of the given versions of path.
	Destroy(ctx context.Context, path string, versions []int) error
}

// WebhookAPI is the part of DigiCert's API a rotation uses; *certcentral.Client
// implements it.
type WebhookAPI interface {
	GetWebhook(ctx context.Context, id int) (certcentral.Webhook, error)
	UpdateWebhook(ctx context.Context, id int, req certcentral.UpdateRequest) error
	TestEndpoint(ctx context.Context, endpoint string, secret certcentral.Secret) error
}

// Recorder receives one evidence record per rotation attempt; evidence.Sink implements it.
type Recorder interface {
	Emit(ctx context.Context, rec evidence.Record) error
}
