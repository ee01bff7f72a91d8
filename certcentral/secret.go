package certcentral

import (
	"fmt"
	"io"
	"strconv"
)

// Secret is the tri-state secret field of a create, update or test request:
// absent ([NoSecret]: the field is omitted and the webhook keeps its secret),
// empty ([RemoveSecret]: "" removes the secret) or a value ([SecretValue]).
// The zero value is NoSecret.
//
// Formatting a Secret with fmt, or marshaling it to JSON, never reveals the
// value; only [Secret.Value] does.
type Secret struct {
	set   bool
	value string
}

// NoSecret returns the absent secret: the field is not sent.
func NoSecret() Secret { return Secret{} }

// RemoveSecret returns the empty secret, which removes the webhook's secret.
func RemoveSecret() Secret { return Secret{set: true} }

// SecretValue returns a secret with value s. SecretValue("") is RemoveSecret().
func SecretValue(s string) Secret { return Secret{set: true, value: s} }

// IsSet reports whether the field is sent (RemoveSecret or SecretValue).
func (s Secret) IsSet() bool { return s.set }

// IsRemove reports whether the secret is the empty string that removes the
// webhook's secret.
func (s Secret) IsRemove() bool { return s.set && s.value == "" }

// Value returns the secret itself ("" for NoSecret and RemoveSecret).
func (s Secret) Value() string { return s.value }

// String describes the secret without revealing it: "<absent>", "<remove>"
// or "[REDACTED]".
func (s Secret) String() string {
	switch {
	case !s.set:
		return "<absent>"
	case s.value == "":
		return "<remove>"
	default:
		return redactedText
	}
}

// GoString is like String, for %#v.
func (s Secret) GoString() string { return "certcentral.Secret(" + s.String() + ")" }

// Format implements fmt.Formatter so that no verb reveals the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, s.GoString())
	case verb == 'q':
		io.WriteString(f, strconv.Quote(s.String()))
	default:
		io.WriteString(f, s.String())
	}
}

// MarshalJSON implements json.Marshaler with the redacted description, so that
// logging a request as JSON does not leak the value. The client itself writes
// request bodies without it.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(s.String())), nil
}
