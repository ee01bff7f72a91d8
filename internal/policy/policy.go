// Package policy writes the Vault policies a keyroll configuration needs, and no more: one
// for the rotation job and one for the listeners of each target.
package policy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoListener is returned by ListenerOf for an api_key target: nobody listens for an
// API key, so no listener policy may reach its document.
var ErrNoListener = errors.New("nobody listens for an API key: no listener policy reaches its document")

// ListenerOf is Listener, or ErrNoListener for an api_key target.
func ListenerOf(s Spec, t Target) (string, error) {
	if t.APIKey {
		return "", fmt.Errorf("target %s: %w", t.Name, ErrNoListener)
	}
	return Listener(s, t), nil
}

// Spec is what the policies depend on: the KV v2 mount, the targets' documents and the
// paths of the DigiCert API keys kept in Vault.
type Spec struct {
	KVMount     string
	Targets     []Target
	APIKeyPaths []string // certcentral.api_key_vault paths, relative to the mount
	// Evidence is what signing and anchoring the evidence file use; nil when neither is
	// configured.
	Evidence *Evidence
}

// Evidence names the Vault paths the evidence file's signatures and anchor use.
type Evidence struct {
	TransitMount string // "" when records are not signed
	SigningKey   string
	Anchor       string // relative to the KV mount; "" when not anchored
}

// Target is one target's name and document path (relative to the mount).
type Target struct {
	Name      string
	VaultPath string
	// APIKey marks a target whose document holds the DigiCert API key itself (kind
	// api_key): the job rotates it like a webhook's document, and nobody listens there.
	APIKey bool
}

// JobName is the name the job's policy is written under.
const JobName = "keyroll-job"

// ListenerName is the name the policy of target's listeners is written under.
func ListenerName(target string) string { return "keyroll-listener-" + target }

// Job returns the policy of the rotation job (`keyroll run`, `keyroll schedule`): for each
// target, read and write on its document's data and metadata and update on its destroy
// path (an api_key target's document too: the job creates, stores and promotes the API
// key there, and reads it as its credential); read on each other DigiCert API key kept in
// Vault; with evidence, update on the Transit
// key's sign path, read on the key (its public keys) and create, read and update on the
// anchor's data path (nothing on its metadata, delete, destroy or undelete paths).
func Job(s Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: the policy of the rotation job (keyroll run, keyroll schedule), as\n", JobName)
	b.WriteString("# `keyroll policy job` writes it for this configuration.\n#\n")
	fmt.Fprintf(&b, "#   vault policy write %s FILE\n", JobName)
	b.WriteString("#\n# Every document write is a check-and-set (create for a target's first document,\n")
	b.WriteString("# update after). The metadata holds the non-secret custom_metadata (state, fingerprint,\n")
	b.WriteString("# binding to the webhook), max_versions and the version history; destroy removes\n")
	b.WriteString("# the versions that hold retired keys. Nothing else: no delete, no list, no sudo.\n")
	mount := strings.Trim(s.KVMount, "/")
	for _, t := range s.Targets {
		p := strings.Trim(t.VaultPath, "/")
		if t.APIKey {
			fmt.Fprintf(&b, "\n# Target %s: the DigiCert API key, rotated here and read as keyroll's credential\n# (field current). No listener policy reaches it.\n", t.Name)
		} else {
			fmt.Fprintf(&b, "\n# Target %s.\n", t.Name)
		}
		block(&b, mount+"/data/"+p, "create", "read", "update")
		block(&b, mount+"/metadata/"+p, "create", "read", "update")
		block(&b, mount+"/destroy/"+p, "update")
	}
	for _, p := range apiKeyPaths(s) {
		fmt.Fprintf(&b, "\n# The DigiCert API key (certcentral.api_key_vault), outside every key document.\n")
		block(&b, mount+"/data/"+strings.Trim(p, "/"), "read")
	}
	for _, g := range evidenceGrants(s) {
		b.WriteString("\n" + g.why)
		block(&b, g.Path, g.Capabilities...)
	}
	return b.String()
}

// JobPaths lists the full paths the job's policy grants outside the targets' documents,
// with the capabilities on each, in the policy's order: for `keyroll check`.
func JobPaths(s Spec) []Grant {
	var out []Grant
	mount := strings.Trim(s.KVMount, "/")
	for _, p := range apiKeyPaths(s) {
		out = append(out, Grant{Path: mount + "/data/" + strings.Trim(p, "/"), Capabilities: []string{"read"}})
	}
	for _, g := range evidenceGrants(s) {
		out = append(out, g.Grant)
	}
	return out
}

// apiKeyPaths lists the API key paths of s once each, in their order, leaving out the
// documents of api_key targets (the job's grants on those include read).
func apiKeyPaths(s Spec) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range s.Targets {
		if t.APIKey {
			seen[strings.Trim(t.VaultPath, "/")] = true
		}
	}
	for _, p := range s.APIKeyPaths {
		p = strings.Trim(p, "/")
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Grant is one path of a policy and its capabilities.
type Grant struct {
	Path         string
	Capabilities []string
}

// explained is a grant with the comment the policy puts above it.
type explained struct {
	Grant
	why string
}

// evidenceGrants is what signing and anchoring the evidence file need.
func evidenceGrants(s Spec) []explained {
	e := s.Evidence
	if e == nil {
		return nil
	}
	var out []explained
	if e.SigningKey != "" {
		transit := strings.Trim(e.TransitMount, "/")
		out = append(out,
			explained{Grant{transit + "/sign/" + e.SigningKey, []string{"update"}},
				"# The evidence file (evidence.signing): Transit signs each record with this key.\n# The private key never leaves Vault.\n"},
			explained{Grant{transit + "/keys/" + e.SigningKey, []string{"read"}},
				"# Its public keys, to check the file's signatures.\n"})
	}
	if e.Anchor != "" {
		out = append(out, explained{Grant{strings.Trim(s.KVMount, "/") + "/data/" + strings.Trim(e.Anchor, "/"), []string{"create", "read", "update"}},
			"# The evidence file's head (evidence.anchor), written with check-and-set. Its data path only:\n" +
				"# no metadata, delete, destroy or undelete, so the job can add heads but never remove one\n" +
				"# or lower max_versions (the Vault set-up sets it), and the history stays checkable.\n"})
	}
	return out
}

// Listener returns the policy of target t's webhook listeners: read on the data of its
// document, nothing else. An api_key target has no listeners (see ErrNoListener); its
// policy is never written.
func Listener(s Spec, t Target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: the policy of the webhook listeners of target %s, as\n", ListenerName(t.Name), t.Name)
	fmt.Fprintf(&b, "# `keyroll policy listener %s` writes it for this configuration.\n#\n", t.Name)
	fmt.Fprintf(&b, "#   vault policy write %s FILE\n", ListenerName(t.Name))
	b.WriteString("#\n# Read on this target's document only: not its metadata, not another target's\n")
	b.WriteString("# document, not the DigiCert API key. Older versions of the document hold no retired\n")
	b.WriteString("# key: keyroll destroys them.\n\n")
	block(&b, strings.Trim(s.KVMount, "/")+"/data/"+strings.Trim(t.VaultPath, "/"), "read")
	return b.String()
}

func block(b *strings.Builder, path string, caps ...string) {
	fmt.Fprintf(b, "path %q {\n  capabilities = [%s]\n}\n", path, `"`+strings.Join(caps, `", "`)+`"`)
}
