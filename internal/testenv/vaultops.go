package testenv

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// CreateToken creates a token with policies and the given TTL (0: the default) and
// returns it.
func CreateToken(ctx context.Context, c *api.Client, ttl time.Duration, policies ...string) (string, error) {
	req := &api.TokenCreateRequest{Policies: policies}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	sec, err := c.Auth().Token().CreateWithContext(ctx, req)
	if err != nil {
		return "", fmt.Errorf("vault: create token: %w", err)
	}
	return sec.Auth.ClientToken, nil
}

// TransitKey enables the Transit secrets engine at mount (if it is not yet) and creates
// the asymmetric key name of type typ ("ed25519" or "ecdsa-p256") if it does not exist.
func TransitKey(ctx context.Context, c *api.Client, mount, name, typ string) error {
	if err := c.Sys().MountWithContext(ctx, mount, &api.MountInput{Type: "transit"}); err != nil &&
		!strings.Contains(err.Error(), "path is already in use") {
		return fmt.Errorf("vault: enable transit at %s: %w", mount, err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, mount+"/keys/"+name, map[string]any{"type": typ}); err != nil {
		return fmt.Errorf("vault: transit key %s/%s: %w", mount, name, err)
	}
	return nil
}

// AuditFile enables a file audit device name writing to path: every request Vault serves
// from then on is logged there before it is answered.
func AuditFile(ctx context.Context, c *api.Client, name, path string) error {
	err := c.Sys().EnableAuditWithOptionsWithContext(ctx, name, &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": path}})
	if err != nil {
		return fmt.Errorf("vault: enable audit device %s: %w", name, err)
	}
	return nil
}

// vaultEnv is env without the VAULT_* variables of the caller's environment, plus extra.
func vaultEnv(env []string, extra ...string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "VAULT_") {
			out = append(out, e)
		}
	}
	return append(out, extra...)
}
