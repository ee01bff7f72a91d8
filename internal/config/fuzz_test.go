package config_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/internal/config"
)

// everyKeyFromS puts ${S} into every key of the file: strings, durations, numbers,
// booleans, URLs, lists, per-target overrides.
const everyKeyFromS = `vault: {address: "${S}", kv_mount: "${S}", insecure_http: "${S}", auth: {method: "${S}", role: "${S}", mount: "${S}", token_file: "${S}"}}
certcentral: {url: "${S}", api_key_env: "${S}", timeout: "${S}"}
rotation: {schedule: "${S}", secret_length: "${S}", overlap: "${S}", propagation_delay: "${S}", min_interval: "${S}", max_age: "${S}", verify_listener: "${S}", stuck_after: "${S}"}
listener: {refresh: "${S}", max_staleness: "${S}"}
evidence: {file: "${S}", anchor: "${S}", signing: {transit_mount: "${S}", key: "${S}"}}
metrics: {pushgateway: "${S}", insecure_http: "${S}"}
notify: [{url: "${S}", format: "${S}", on: ["${S}"], insecure_http: "${S}"}]
targets:
  - {name: "${S}", vault_path: "${S}", webhook_id: "${S}"}
  - {name: "${S}x", vault_path: "x/${S}", webhook_id: "1${S}", certcentral: {url: "https://${S}", api_key_vault: {path: "${S}", field: "${S}"}, timeout: "${S}d"}}
  - {name: "${S}y", kind: "${S}", vault_path: "y/${S}", api_key: {key_id: "${S}", max_age: "${S}", min_interval: "${S}", overlap: "${S}", grace: "${S}", in_use: "${S}"}}
  - {name: "k${S}", kind: api_key, vault_path: "${S}", webhook_id: "${S}", certcentral: {api_key_env: "${S}"}, api_key: {max_age: "${S}d", in_use: "${S}"}}
`

// mark interleaves b with characters no message of keyroll's holds in that order, so that
// any 6 consecutive characters of the result are the secret's, not ordinary text.
func mark(b []byte) string {
	const marks = "Q7ZX9K"
	var s strings.Builder
	s.WriteString("Zq")
	for i, c := range b {
		s.WriteByte(c)
		s.WriteByte(marks[i%len(marks)])
	}
	return s.String()
}

// leaked returns a 6-character run of secret (raw or escaped as %q prints it) found in out.
func leaked(out, secret string) (string, bool) {
	q := strconv.Quote(secret)
	for _, form := range []string{secret, q[1 : len(q)-1]} {
		for i := 0; i+6 <= len(form); i++ {
			if strings.Contains(out, form[i:i+6]) {
				return form[i : i+6], true
			}
		}
	}
	return "", false
}

// FuzzErrorsHideEnvironmentValues: whatever a variable holds (quotes, backslashes,
// backticks, newlines, bytes that are not UTF-8), and in whichever key it lands, no 6
// consecutive characters of it appear in the errors or warnings.
func FuzzErrorsHideEnvironmentValues(f *testing.F) {
	for _, seed := range []string{
		`pass"word\with-escapes-123`, "back`tick`s", "new\nline\r\n", "\xff\xfe\x00bytes", `'single'`,
		"24h", "90d", "1", "true", "https://user:pw@host/path?q=1", `\"\\` + "`", "tab\tand space ",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 200 {
			b = b[:200]
		}
		secret := mark(b)
		for _, vaultAddr := range []string{"", secret} {
			lookup := func(name string) (string, bool) {
				switch name {
				case "S":
					return secret, true
				case "VAULT_ADDR":
					return vaultAddr, vaultAddr != ""
				}
				return "", false
			}
			var out strings.Builder
			c, err := config.Read(strings.NewReader(everyKeyFromS), lookup)
			if err != nil {
				out.WriteString(err.Error())
			}
			if c != nil {
				out.WriteString(strings.Join(c.Warnings(), "\n"))
			}
			if run, ok := leaked(out.String(), secret); ok {
				t.Fatalf("the output holds %q of the secret:\n%s", run, strings.ToValidUTF8(out.String(), "?"))
			}
			if err != nil && !strings.Contains(err.Error(), "${S}") {
				t.Fatalf("the errors do not name ${S}:\n%s", err)
			}
		}
	})
}
