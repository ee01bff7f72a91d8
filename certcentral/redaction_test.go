package certcentral_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// sensitive are substrings that must never appear in an error or formatted
// value: the test secrets and the distinctive part of every test API key.
var sensitive = []string{oldSecret, newSecret, "5f3c9a1b7e", "unknown-secret-unknown-secret"}

func leaks(s string) string {
	for _, v := range sensitive {
		if strings.Contains(s, v) {
			return v
		}
	}
	return ""
}

// TestMain also checks every error the tests collected with record.
func TestMain(m *testing.M) {
	code := m.Run()
	seenErrors.Lock()
	for _, err := range seenErrors.list {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if v := leaks(text); v != "" {
				fmt.Fprintf(os.Stderr, "FAIL: an error leaks %q: %s\n", v, text)
				code = 1
			}
		}
	}
	// With the whole suite run, make sure the check saw plenty of errors.
	if f := flag.Lookup("test.run"); code == 0 && f != nil && f.Value.String() == "" && len(seenErrors.list) < 30 {
		fmt.Fprintf(os.Stderr, "FAIL: only %d errors collected for the leak check\n", len(seenErrors.list))
		code = 1
	}
	seenErrors.Unlock()
	os.Exit(code)
}

// TestErrorsNeverLeakSecrets provokes errors whose server messages echo the
// API key and the secret sent.
func TestErrorsNeverLeakSecrets(t *testing.T) {
	e := newEnv(t)
	echo := fmt.Sprintf(`{"errors":[{"code":"bad %s","message":"key %s secret %s old %s"}]}`, e.key, e.key, newSecret, oldSecret)
	path := "/webhook/" + strconv.Itoa(e.id)
	c := e.client(t, func(c *certcentral.Config) { c.Retry.MaxAttempts = 2 })
	req := certcentral.UpdateRequest{Endpoint: e.lis.url("/hook"), Secret: certcentral.SecretValue(newSecret)}

	if _, err := c.GetWebhook(ctx(t), 0); err != nil { // the client learns the old secret
		t.Fatal(err)
	}
	var errs []error
	for _, status := range []int{400, 401, 500} {
		e.sim.Inject(certcentraltest.Fault{Path: path, Status: status, Body: echo, Count: 2})
		errs = append(errs, c.UpdateWebhook(ctx(t), e.id, req))
	}
	e.sim.Inject(certcentraltest.Fault{Status: 400, Body: echo})
	errs = append(errs, c.TestEndpoint(ctx(t), e.lis.url("/hook"), certcentral.SecretValue(newSecret)))
	// Plain-text bodies are not echoed at all.
	e.sim.Inject(certcentraltest.Fault{Status: 502, Body: "bad gateway " + e.key, ContentType: "text/plain", Count: 2})
	errs = append(errs, c.UpdateWebhook(ctx(t), e.id, req))
	// webhook_endpoint_error from the listener rejecting the new key.
	errs = append(errs, c.UpdateWebhook(ctx(t), e.id, req))
	// Transport errors.
	e.sim.Inject(certcentraltest.Fault{DropRequest: true, Count: 2})
	errs = append(errs, c.UpdateWebhook(ctx(t), e.id, req))
	bad, _ := certcentral.New(certcentral.Config{BaseURL: "http://127.0.0.1:1", APIKey: e.key, NoLimiter: true,
		Clock: e.clock, Retry: certcentral.RetryPolicy{MaxAttempts: 1}})
	errs = append(errs, bad.UpdateWebhook(ctx(t), e.id, req))

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		record(err)
		if v := leaks(err.Error()); v != "" {
			t.Errorf("case %d: error leaks %q: %v", i, v, err)
		}
	}
	// The request bodies did carry the secret (so the check above means
	// something).
	if !strings.Contains(string(e.sim.RequestsTo(http.MethodPut, path)[0].Body), newSecret) {
		t.Errorf("PUT body without the secret")
	}
}

func TestFormattingRedacts(t *testing.T) {
	w := certcentral.Webhook{ID: 7, Endpoint: "https://h/x", Secret: newSecret, SecretReturned: true,
		Events: []string{"certificate_issued"}, Status: "active", Settings: json.RawMessage(`{"a": "1"}`)}
	req := certcentral.UpdateRequest{Endpoint: "https://h/x", Secret: certcentral.SecretValue(newSecret)}
	values := []any{w, &w, req, &req, req.Secret, []certcentral.Webhook{w}, struct{ W certcentral.Webhook }{w},
		map[string]certcentral.Secret{"s": certcentral.SecretValue(newSecret)}}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, newSecret) {
				t.Errorf("%s of %T leaks the secret: %s", verb, v, s)
			}
		}
		b, err := json.Marshal(v)
		if err != nil || strings.Contains(string(b), newSecret) {
			t.Errorf("json of %T: %s, %v", v, b, err)
		}
	}
	if got := fmt.Sprint(w); got != `{ID:7 Endpoint:https://h/x Secret:[REDACTED] Events:[certificate_issued] Status:active Settings:{"a":"1"}}` {
		t.Errorf("String() = %s", got)
	}
	for s, want := range map[certcentral.Secret]string{
		certcentral.NoSecret(): "<absent>", certcentral.RemoveSecret(): "<remove>", certcentral.SecretValue("x"): "[REDACTED]",
	} {
		if got := fmt.Sprint(s); got != want {
			t.Errorf("Sprint(secret) = %s, want %s", got, want)
		}
	}
	if !certcentral.SecretValue("").IsRemove() || certcentral.NoSecret().IsSet() || certcentral.SecretValue("v").Value() != "v" {
		t.Errorf("Secret accessors wrong")
	}
}

// TestKeyErrorsNeverLeakKeys: a key DigiCert just created, and a key being proved, never
// appear in an error, even when the server echoes them, nor in a formatted CreatedKey.
func TestKeyErrorsNeverLeakKeys(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, func(c *certcentral.Config) { c.Retry.MaxAttempts = 1 })
	api := certcentral.KeysRotator{Client: c}
	ck, err := api.CreateKey(ctx(t), e.acct.UserID(), "keyroll leak r1", 0)
	must(t, err)
	sensitive = append(sensitive, ck.Key) // TestMain checks every recorded error for it too
	echo := fmt.Sprintf(`{"errors":[{"code":"bad %s","message":"key %s, the caller's %s"}]}`, ck.Key, ck.Key, e.key)
	var errs []error
	for _, status := range []int{400, 401, 403, 404, 500} {
		e.sim.Inject(certcentraltest.Fault{Status: status, Body: echo})
		_, err := api.Key(ctx(t), ck.ID)
		errs = append(errs, err)
		e.sim.Inject(certcentraltest.Fault{Status: status, Body: echo})
		_, err = api.Authenticate(ctx(t), ck.Key, ck.ID)
		errs = append(errs, err)
	}
	e.sim.Inject(certcentraltest.Fault{Status: 502, Body: echo})
	errs = append(errs, api.Revoke(ctx(t), ck.ID))
	e.sim.Inject(certcentraltest.Fault{Status: 400, Body: echo})
	_, err = api.Keys(ctx(t), e.acct.UserID())
	errs = append(errs, err)
	// A key the server refuses outright, and one that cannot be sent.
	_, err = api.Authenticate(ctx(t), "unknown-secret-unknown-secret-key", ck.ID)
	errs = append(errs, err)
	_, err = api.Authenticate(ctx(t), "unknown-secret-unknown-secret\nkey", ck.ID)
	errs = append(errs, err)
	// The lost answer of a create.
	e.sim.LoseNextKeyCreate(0)
	_, err = api.CreateKey(ctx(t), e.acct.UserID(), "keyroll leak r2", 0)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		record(err)
		if v := leaks(err.Error()); v != "" {
			t.Errorf("case %d: error leaks %q: %v", i, v, err)
		}
	}
	own := certcentral.CreatedKey{ID: ck.ID, Key: ck.Key}
	for _, v := range []any{ck, &ck, own, &own, []certcentral.CreatedKey{own}, struct{ K certcentral.CreatedKey }{own}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, ck.Key) {
				t.Errorf("%s of %T leaks the key: %s", verb, v, s)
			}
		}
	}
	for _, v := range []any{own, &own, []certcentral.CreatedKey{own}} {
		if b, err := json.Marshal(v); err != nil || strings.Contains(string(b), ck.Key) {
			t.Errorf("json of %T: %s, %v", v, b, err)
		}
	}
}
