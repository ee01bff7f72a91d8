//go:build tools

// Package vaulttool pins the Vault server version used by keyroll's integration tests.
package vaulttool

import _ "github.com/hashicorp/vault"
