// Package rotate is keyroll's rotation state machine (DESIGN.md section 2): reconcile the
// Vault document with DigiCert's live webhook, stage a fresh key, wait for listeners to
// learn it, test it, push it, verify, promote, and record evidence. Every step is
// idempotent and a run that finds a staged key resumes it, so a crash or a second
// concurrent run at any point converges. The only lock is Vault's check-and-set.
package rotate

import (
	"context"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/evidence"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// KeyStore holds the target documents; *vault.Store implements it.
type KeyStore interface {
	Read(ctx context.Context, path string) (vault.Versioned, error)
	Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error)
	WriteMetadata(ctx context.Context, path string, meta map[string]string) error
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
