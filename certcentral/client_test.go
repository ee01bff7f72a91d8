package certcentral_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

func TestGetWebhook(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	for _, id := range []int{0, e.id} {
		w, err := c.GetWebhook(ctx(t), id)
		must(t, err)
		if w.ID != e.id || w.Endpoint != e.lis.url("/hook") || w.Status != certcentral.StatusActive {
			t.Errorf("GetWebhook(%d) = %v", id, w)
		}
		if !w.SecretReturned || w.Secret != oldSecret {
			t.Errorf("GetWebhook(%d): secret returned=%t, equal=%t", id, w.SecretReturned, w.Secret == oldSecret)
		}
		if !slices.Equal(w.Events, []string{"certificate_issued", "certificate_revoked"}) {
			t.Errorf("events = %v", w.Events)
		}
		if !bytes.Equal(w.Settings, certcentraltest.DefaultSettings) {
			t.Errorf("settings = %s", w.Settings)
		}
	}
	reqs := e.sim.RequestsTo(http.MethodGet, "/webhook")
	if len(reqs) != 2 || reqs[0].Header.Get("User-Agent") != "keyroll/test" || reqs[0].KeyFingerprint != certcentraltest.Fingerprint(e.key) {
		t.Errorf("logged requests = %+v", reqs)
	}

	_, err := c.GetWebhook(ctx(t), e.id+1)
	if !errors.Is(record(err), certcentral.ErrNoWebhook) {
		t.Errorf("GetWebhook(wrong id) = %v, want ErrNoWebhook", err)
	}

	e.acct.HideSecret(true)
	w, err := c.GetWebhook(ctx(t), 0)
	must(t, err)
	if w.SecretReturned || w.Secret != "" {
		t.Errorf("hidden secret: returned=%t", w.SecretReturned)
	}
	e.acct.HideSecret(false)
	must(t, e.acct.SetSecret(""))
	if w, _ := c.GetWebhook(ctx(t), 0); w.SecretReturned {
		t.Errorf("removed secret reported as returned")
	}

	e.acct.RemoveWebhook()
	_, err = c.ListWebhooks(ctx(t))
	apiError(t, err, 400, certcentral.CodeWebhookInvalidAccount)
	if !errors.Is(err, certcentral.ErrNoWebhook) || certcentral.IsRetryable(err) || certcentral.IsCredentialsRejected(err) {
		t.Errorf("no webhook: %v: Is(ErrNoWebhook)=%t retryable=%t", err, errors.Is(err, certcentral.ErrNoWebhook), certcentral.IsRetryable(err))
	}
	_, err = c.GetWebhook(ctx(t), 0)
	if !errors.Is(record(err), certcentral.ErrNoWebhook) {
		t.Errorf("GetWebhook without webhook = %v", err)
	}
}

func TestSettingsPlacement(t *testing.T) {
	odd := json.RawMessage("{ \"webhook_send_certificate_chain\" : true,\n  \"webhook_notification_frequency\":[ 90,7 ] }")
	for _, tc := range []struct {
		name string
		p    certcentraltest.SettingsPlacement
		want json.RawMessage
	}{
		{"nested", certcentraltest.SettingsNested, odd},
		{"top-level", certcentraltest.SettingsTopLevel, odd},
		{"both", certcentraltest.SettingsBoth, odd},
		{"omitted", certcentraltest.SettingsOmitted, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, certcentraltest.WithSettingsPlacement(tc.p))
			wh := e.acct.Webhook()
			wh.Settings = odd
			e.acct.SetWebhook(wh)
			w, err := e.client(t).GetWebhook(ctx(t), 0)
			must(t, err)
			if !bytes.Equal(w.Settings, tc.want) {
				t.Errorf("settings = %q, want %q", w.Settings, tc.want)
			}
		})
	}
}

// TestRoundTripByteIdentical does what a rotation does, GET then PUT with a
// new secret, and checks that endpoint, events and settings come through
// unchanged.
func TestRoundTripByteIdentical(t *testing.T) {
	endpoints := []string{
		"/hook",
		"/hook?a=1&b=2",
		"/h%2Fo%2fok/<x>?q=<script>&amp;=%26",
		"/ünïcødé/日本?emoji=🙂&t=\u2028",
		"/path;param?x=\"quoted\"&y='single'&z=a+b%20c",
	}
	settings := []json.RawMessage{
		json.RawMessage(`{"webhook_notification_frequency":[90,60,30,7,0,-7],"instant_issue_webhook_notification":"1","webhook_send_certificate_chain":"0","webhook_send_instant_issued_certificate_chain":"1"}`),
		json.RawMessage("{\n  \"webhook_send_certificate_chain\": true ,\n\t\"webhook_send_instant_issued_certificate_chain\":false,\"x\":{\"nested\":[1,2.50,\"<&>\"]}\n}"),
		json.RawMessage(`{}`),
		json.RawMessage(`{"unicode":"\u00e9\ud83d\ude42","escaped":"a\/b"}`),
	}
	for _, php := range []bool{false, true} {
		for i, ep := range endpoints {
			for j, st := range settings {
				t.Run(strconv.FormatBool(php)+"/"+strconv.Itoa(i)+"/"+strconv.Itoa(j), func(t *testing.T) {
					e := newEnv(t, certcentraltest.WithPHPStyleJSON(php))
					endpoint := e.lis.url(ep)
					e.acct.SetWebhook(certcentraltest.Webhook{Endpoint: endpoint, Secret: oldSecret,
						Events: []string{"certificate_issued"}, Settings: st})
					e.lis.accept(oldSecret, newSecret)
					c := e.client(t)

					live, err := c.GetWebhook(ctx(t), 0)
					must(t, err)
					if live.Endpoint != endpoint {
						t.Fatalf("GET endpoint = %q, want %q", live.Endpoint, endpoint)
					}
					must(t, c.UpdateWebhook(ctx(t), live.ID, certcentral.UpdateRequest{
						Endpoint: live.Endpoint, Secret: certcentral.SecretValue(newSecret), Settings: live.Settings,
					}))

					got := e.acct.Webhook()
					if got.Endpoint != endpoint {
						t.Errorf("stored endpoint = %q, want %q", got.Endpoint, endpoint)
					}
					if !bytes.Equal(got.Settings, st) {
						t.Errorf("stored settings = %q, want %q", got.Settings, st)
					}
					if got.Secret != newSecret || got.Status != certcentraltest.StatusActive ||
						!slices.Equal(got.Events, []string{"certificate_issued"}) {
						t.Errorf("stored webhook = %+v", got)
					}
					puts := e.sim.RequestsTo(http.MethodPut, "/webhook/"+strconv.Itoa(e.id))
					if len(puts) != 1 {
						t.Fatalf("%d PUTs", len(puts))
					}
					var body map[string]json.RawMessage
					must(t, json.Unmarshal(puts[0].Body, &body))
					if !bytes.Equal(body["webhook_settings"], st) {
						t.Errorf("PUT webhook_settings = %q, want %q", body["webhook_settings"], st)
					}
					if _, ok := body["events"]; ok {
						t.Errorf("PUT body has events: %s", puts[0].Body)
					}
					if ct := puts[0].Header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("Content-Type = %q", ct)
					}
					var enc bytes.Buffer
					je := json.NewEncoder(&enc)
					je.SetEscapeHTML(false)
					must(t, je.Encode(endpoint))
					if !bytes.HasPrefix(puts[0].Body, append([]byte(`{"endpoint":`), bytes.TrimSpace(enc.Bytes())...)) {
						t.Errorf("PUT body escapes the endpoint: %s", puts[0].Body)
					}
					last := e.lis.received()[len(e.lis.received())-1]
					if last.key != newSecret {
						t.Errorf("update contact carried the wrong key")
					}
				})
			}
		}
	}
}

func TestSecretTriState(t *testing.T) {
	for _, tc := range []struct {
		name       string
		secret     certcentral.Secret
		wantField  string // raw JSON of the secret field, "" when absent
		wantStored string
	}{
		{"absent", certcentral.NoSecret(), "", oldSecret},
		{"remove", certcentral.RemoveSecret(), `""`, ""},
		{"value", certcentral.SecretValue(newSecret), `"` + newSecret + `"`, newSecret},
		{"empty value", certcentral.SecretValue(""), `""`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.lis.accept(oldSecret, newSecret, "")
			c := e.client(t)
			must(t, c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: e.lis.url("/hook"), Secret: tc.secret}))
			put := e.sim.RequestsTo(http.MethodPut, "/webhook/"+strconv.Itoa(e.id))[0]
			var body map[string]json.RawMessage
			must(t, json.Unmarshal(put.Body, &body))
			raw, ok := body["secret"]
			if ok != (tc.wantField != "") || string(raw) != tc.wantField {
				t.Errorf("secret field = %q (present %t), want %q; body %s", raw, ok, tc.wantField, put.Body)
			}
			if len(body) != map[bool]int{true: 2, false: 1}[ok] {
				t.Errorf("body has extra fields: %s", put.Body)
			}
			if got := e.acct.Webhook().Secret; got != tc.wantStored {
				t.Errorf("stored secret %q, want %q", got, tc.wantStored)
			}
			// The update's contact delivery carried the new secret, or none.
			last := e.lis.received()[len(e.lis.received())-1]
			if last.key != tc.wantStored || last.keySent != (tc.wantStored != "") {
				t.Errorf("contact key sent=%t matches=%t", last.keySent, last.key == tc.wantStored)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []string
		want   []string
		field  string
	}{
		{"nil keeps subscriptions", nil, []string{"certificate_issued", "certificate_revoked"}, ""},
		{"empty clears", []string{}, []string{}, `[]`},
		{"replaced", []string{"order_rejected"}, []string{"order_rejected"}, `["order_rejected"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client(t)
			must(t, c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: e.lis.url("/hook"), Events: tc.events}))
			if got := e.acct.Webhook().Events; !slices.Equal(got, tc.want) {
				t.Errorf("events = %v, want %v", got, tc.want)
			}
			put := e.sim.RequestsTo(http.MethodPut, "/webhook/"+strconv.Itoa(e.id))[0]
			var body map[string]json.RawMessage
			must(t, json.Unmarshal(put.Body, &body))
			if string(body["events"]) != tc.field {
				t.Errorf("events field = %s, want %s", body["events"], tc.field)
			}
		})
	}
}

func TestSettingsOmittedUnchangedOrReset(t *testing.T) {
	custom := json.RawMessage(`{"webhook_send_certificate_chain":"1"}`)
	for _, reset := range []bool{false, true} {
		e := newEnv(t, certcentraltest.WithResetSettingsOnOmit(reset))
		w := e.acct.Webhook()
		w.Settings = custom
		e.acct.SetWebhook(w)
		must(t, e.client(t).UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: w.Endpoint}))
		want := custom
		if reset {
			want = certcentraltest.DefaultSettings
		}
		if got := e.acct.Webhook().Settings; !bytes.Equal(got, want) {
			t.Errorf("reset=%t: settings %s, want %s", reset, got, want)
		}
	}
}

func TestEndpointChangeAndChallenge(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	newEP := e.lis.url("/other")
	must(t, c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: newEP}))
	w, err := c.GetWebhook(ctx(t), e.id)
	must(t, err)
	if w.Status != certcentral.StatusPending || w.Endpoint != newEP || w.Secret != oldSecret {
		t.Fatalf("after endpoint change: %v", w)
	}
	if _, err := e.acct.Deliver(ctx(t), "certificate_issued", nil); !errors.Is(err, certcentraltest.ErrNotActive) {
		t.Errorf("Deliver to pending webhook: %v", err)
	}
	apiError(t, c.Activate(ctx(t), e.id), 400, certcentral.CodeWebhookInvalidAction)

	must(t, c.SendChallenge(ctx(t), e.id))
	ds := e.sim.Deliveries()
	last := ds[len(ds)-1]
	var ev struct {
		Event string
		Data  struct {
			Token     string
			WebhookID int `json:"webhook_id"`
		}
	}
	must(t, json.Unmarshal(last.Body, &ev))
	if ev.Event != certcentral.EventChallengeWebhookEndpoint || ev.Data.WebhookID != e.id || ev.Data.Token == "" ||
		last.Key != oldSecret || last.Endpoint != newEP {
		t.Fatalf("challenge delivery = %+v (%s)", last, last.Body)
	}
	apiError(t, c.CheckChallenge(ctx(t), e.id, "wrong"), 400, certcentral.CodeWebhookInvalidToken)
	must(t, c.CheckChallenge(ctx(t), e.id, ev.Data.Token))
	must(t, c.Activate(ctx(t), e.id))
	if s := e.acct.Webhook().Status; s != certcentraltest.StatusActive {
		t.Errorf("status after activate = %s", s)
	}
	apiError(t, c.Activate(ctx(t), e.id), 400, certcentral.CodeWebhookInvalidAction)
	must(t, c.Deactivate(ctx(t), e.id))
	apiError(t, c.Deactivate(ctx(t), e.id), 400, certcentral.CodeWebhookInvalidAction)
	must(t, c.Activate(ctx(t), e.id))

	// Tokens live 30 minutes on the simulator's clock.
	must(t, c.SendChallenge(ctx(t), e.id))
	ds = e.sim.Deliveries()
	must(t, json.Unmarshal(ds[len(ds)-1].Body, &ev))
	e.clock.Advance(31 * 60 * 1e9)
	apiError(t, c.CheckChallenge(ctx(t), e.id, ev.Data.Token), 400, certcentral.CodeWebhookInvalidToken)
}

func TestCreateWebhook(t *testing.T) {
	e := newEnv(t)
	e.acct.RemoveWebhook()
	c := e.client(t)
	e.lis.accept(newSecret)
	id, err := c.CreateWebhook(ctx(t), certcentral.CreateRequest{Endpoint: e.lis.url("/new"),
		Secret: certcentral.SecretValue(newSecret), Events: []string{"certificate_issued"}})
	must(t, err)
	w, err := c.GetWebhook(ctx(t), id)
	must(t, err)
	if w.Status != certcentral.StatusPending || w.Secret != newSecret || !slices.Equal(w.Events, []string{"certificate_issued"}) {
		t.Errorf("created %v", w)
	}
	_, err = c.CreateWebhook(ctx(t), certcentral.CreateRequest{Endpoint: e.lis.url("/new")})
	apiError(t, err, 400, certcentral.CodeWebhookConfigured)
}

func TestTestEndpointAndDeliveries(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	e.lis.accept(oldSecret, newSecret)
	must(t, c.TestEndpoint(ctx(t), e.lis.url("/hook"), certcentral.SecretValue(newSecret)))
	got := e.lis.received()
	if last := got[len(got)-1]; last.key != newSecret || string(last.body) != `{"event":"test_webhook_endpoint"}` {
		t.Errorf("test delivery = key ok %t, body %s", last.key == newSecret, last.body)
	}
	if d := e.sim.Deliveries(); d[len(d)-1].Key != newSecret || d[len(d)-1].Event != certcentral.EventTestWebhookEndpoint {
		t.Errorf("logged delivery = %+v", d[len(d)-1])
	}

	// A listener that does not know the key makes DigiCert answer
	// webhook_endpoint_error.
	err := c.TestEndpoint(ctx(t), e.lis.url("/hook"), certcentral.SecretValue("unknown-secret-unknown-secret-unknown-secret!"))
	ae := apiError(t, err, 400, certcentral.CodeWebhookEndpointError)
	if ae.Retryable() || ae.CredentialsRejected() {
		t.Errorf("webhook_endpoint_error classified retryable=%t creds=%t", ae.Retryable(), ae.CredentialsRejected())
	}
	// No secret: no header.
	e.lis.accept("")
	must(t, c.TestEndpoint(ctx(t), e.lis.url("/hook"), certcentral.NoSecret()))
	if last := e.lis.received()[len(e.lis.received())-1]; last.keySent {
		t.Errorf("delivery without secret carried X-WEBHOOK-KEY")
	}

	// Ordinary events carry the current secret.
	e.lis.accept(oldSecret)
	status, err := e.acct.Deliver(ctx(t), certcentral.EventCertificateIssued, map[string]int{"order_id": 12345, "certificate_id": 23456})
	if err != nil || status != 200 {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	last := e.lis.received()[len(e.lis.received())-1]
	if last.key != oldSecret || string(last.body) != `{"event":"certificate_issued","data":{"certificate_id":23456,"order_id":12345}}` {
		t.Errorf("event delivery: key ok %t, body %s", last.key == oldSecret, last.body)
	}
	// Out-of-band change: deliveries switch to the new secret at once.
	must(t, e.acct.SetSecret(newSecret))
	if _, err := e.acct.Deliver(ctx(t), certcentral.EventCertificateIssued, nil); err == nil {
		t.Errorf("listener accepted a key it does not know")
	}
}

// TestUpdateRejectedByListener: DigiCert contacts the endpoint with the new
// key; a listener that rejects it leaves the webhook unchanged.
func TestUpdateRejectedByListener(t *testing.T) {
	e := newEnv(t)
	before := e.acct.Webhook()
	err := e.client(t).UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: before.Endpoint,
		Secret: certcentral.SecretValue(newSecret), Settings: before.Settings})
	apiError(t, err, 400, certcentral.CodeWebhookEndpointError)
	if after := e.acct.Webhook(); after.Secret != oldSecret || after.Status != certcentraltest.StatusActive {
		t.Errorf("webhook changed by a failed update")
	}
	// With contact disabled the same update goes through.
	e2 := newEnv(t, certcentraltest.WithUpdateContact(certcentraltest.ContactNever))
	must(t, e2.client(t).UpdateWebhook(ctx(t), e2.id, certcentral.UpdateRequest{Endpoint: e2.lis.url("/hook"),
		Secret: certcentral.SecretValue(newSecret)}))
	if e2.acct.Webhook().Secret != newSecret {
		t.Errorf("update without contact not applied")
	}
}

func TestDocumentedErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ep := e.lis.url("/hook")
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   string
		creds  bool
	}{
		{"http endpoint", func() error {
			return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: "http://example.com/hook"})
		}, 400, certcentral.CodeWebhookInvalidEndpoint, false},
		{"not a URL", func() error {
			return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: "hook"})
		}, 400, certcentral.CodeWebhookInvalidEndpoint, false},
		{"short secret", func() error {
			return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: ep, Secret: certcentral.SecretValue("short-secret-of-31-characters!!")})
		}, 400, "webhook_invalid_secret", false},
		{"wrong id", func() error {
			return c.UpdateWebhook(ctx(t), e.id+7, certcentral.UpdateRequest{Endpoint: ep})
		}, 404, certcentral.CodeWebhookNotFound, false},
		{"challenge wrong id", func() error { return c.SendChallenge(ctx(t), e.id+7) }, 404, certcentral.CodeWebhookNotFound, false},
		{"create when configured", func() error {
			_, err := c.CreateWebhook(ctx(t), certcentral.CreateRequest{Endpoint: ep})
			return err
		}, 400, certcentral.CodeWebhookConfigured, false},
		{"test endpoint invalid", func() error { return c.TestEndpoint(ctx(t), "ftp://x", certcentral.NoSecret()) },
			400, certcentral.CodeWebhookInvalidEndpoint, false},
		{"unknown event", func() error {
			return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: ep, Events: []string{"nope"}})
		}, 400, "webhook_invalid_event", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.sim.Requests())
			ae := apiError(t, tc.call(), tc.status, tc.code)
			if ae.Retryable() || ae.CredentialsRejected() != tc.creds {
				t.Errorf("retryable=%t creds=%t", ae.Retryable(), ae.CredentialsRejected())
			}
			if n := len(e.sim.Requests()) - before; n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
	if w := e.acct.Webhook(); w.Secret != oldSecret || w.Endpoint != ep || w.Status != "active" {
		t.Errorf("failed calls changed the webhook: %+v", w)
	}
}

func TestCredentialsRejected(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		cfg  func(*certcentral.Config)
		prep func()
		call func(*certcentral.Client) error
		code int
	}{
		{"unknown key", func(c *certcentral.Config) { c.APIKey = "not-a-known-api-key-0000" }, func() {},
			func(c *certcentral.Client) error { _, err := c.ListWebhooks(ctx(t)); return err }, 401},
		{"read-only key", func(*certcentral.Config) {}, func() { e.acct.SetReadOnly(true) },
			func(c *certcentral.Client) error {
				return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: e.lis.url("/hook")})
			}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prep()
			before := len(e.sim.Requests())
			err := tc.call(e.client(t, tc.cfg))
			apiError(t, err, tc.code, "")
			if !certcentral.IsCredentialsRejected(err) || certcentral.IsRetryable(err) {
				t.Errorf("%v: creds=%t retryable=%t", err, certcentral.IsCredentialsRejected(err), certcentral.IsRetryable(err))
			}
			if n := len(e.sim.Requests()) - before; n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
	// Read-only keys can still read.
	if _, err := e.client(t).GetWebhook(ctx(t), 0); err != nil {
		t.Errorf("read-only GET: %v", err)
	}
}

func TestClientRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	for name, call := range map[string]func() error{
		"no endpoint": func() error { return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{}) },
		"bad id":      func() error { return c.UpdateWebhook(ctx(t), 0, certcentral.UpdateRequest{Endpoint: "https://x"}) },
		"bad settings": func() error {
			return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: "https://x", Settings: []byte("{")})
		},
		"bad utf8": func() error {
			return c.UpdateWebhook(ctx(t), e.id, certcentral.UpdateRequest{Endpoint: "https://x/\xff"})
		},
		"test no ep":    func() error { return c.TestEndpoint(ctx(t), "", certcentral.NoSecret()) },
		"activate id 0": func() error { return c.Activate(ctx(t), 0) },
	} {
		if err := record(call()); !errors.Is(err, certcentral.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if n := len(e.sim.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestNewConfig(t *testing.T) {
	for _, cfg := range []certcentral.Config{
		{},
		{APIKey: "k\n"},
		{APIKey: "k", BaseURL: "ftp://x"},
		{APIKey: "k", BaseURL: "https://x/services/v2?q=1"},
		{APIKey: "k", BaseURL: "://"},
	} {
		if _, err := certcentral.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg.BaseURL)
		} else if contains(err.Error(), "k\n") {
			t.Errorf("error leaks key: %v", err)
		}
	}
	if _, err := certcentral.New(certcentral.Config{APIKey: "k", BaseURL: certcentral.EUBaseURL + "/"}); err != nil {
		t.Errorf("EU URL: %v", err)
	}
}
