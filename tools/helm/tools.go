//go:build tools

// Package helmtool pins the Helm version used by keyroll's chart tests.
package helmtool

import _ "helm.sh/helm/v3/cmd/helm"
