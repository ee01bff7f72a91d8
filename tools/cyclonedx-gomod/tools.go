//go:build tools

// Package tools pins cyclonedx-gomod, which writes the CycloneDX SBOM of the keyroll binary
// in the container image (scripts/image.sh, from the binary's embedded module list).
package tools

import _ "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
