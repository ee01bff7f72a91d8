package config

import "net/url"

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
	if ts := e.Timestamp; ts != nil {
		if e.File == "" {
			add("evidence.timestamp", "needs evidence.file: the file's head is timestamped")
		}
		// RFC 3161 answers are signed and verified against --tsa-ca, so http is fine here.
		if u, err := url.Parse(ts.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("evidence.timestamp.url", "want the http:// or https:// URL of an RFC 3161 Time-Stamp Authority such as http://timestamp.digicert.com, got %q", ts.URL)
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
