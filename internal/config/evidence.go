package config

// DefaultTransitMount is evidence.signing.transit_mount when it is not set.
const DefaultTransitMount = "transit"

// validateEvidence checks the evidence section: signing and the anchor need the file, and
// the Transit mount, key and anchor are Vault paths.
func validateEvidence(p *FieldErrors, e Evidence) {
	add := p.add
	if s := e.Signing; s != nil {
		if e.File == "" {
			add("evidence.signing", "needs evidence.file: only the file's records are signed")
		}
		if s.TransitMount != "" && !vaultPath.MatchString(s.TransitMount) {
			add("evidence.signing.transit_mount", "want a mount path such as transit, got %q", s.TransitMount)
		}
		if !vaultPath.MatchString(s.Key) || s.Key == "" {
			add("evidence.signing.key", "want the name of an asymmetric Transit key such as keyroll-evidence, got %q", s.Key)
		}
	}
	if e.Anchor != "" {
		if e.File == "" {
			add("evidence.anchor", "needs evidence.file: the anchor holds the file's head")
		}
		if !vaultPath.MatchString(e.Anchor) {
			add("evidence.anchor", "want a relative KV path such as keyroll/evidence/head, got %q", e.Anchor)
		}
	}
}

// Mount returns the Transit mount, DefaultTransitMount when not set.
func (s EvidenceSigning) Mount() string {
	if s.TransitMount == "" {
		return DefaultTransitMount
	}
	return s.TransitMount
}
