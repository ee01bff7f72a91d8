package certcentral_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// FuzzClientResponse feeds arbitrary statuses, bodies and Retry-After headers
// to every kind of call: the client never panics and returns either an error
// or a well-formed result.
func FuzzClientResponse(f *testing.F) {
	for _, seed := range []struct {
		status uint16
		body   string
		ra     string
		op     uint8
	}{
		{200, `{"webhooks":[{"id":1,"endpoint":"https://h/x","secret":"s","events":["certificate_issued"],"status":"active","webhook_settings":{"a":"1"}}]}`, "", 0},
		{200, `{"webhooks":[{"id":"12","endpoint":"https://h"}],"webhook_settings":{"b":true}}`, "", 1},
		{200, `{"webhooks":[{"id":1,"endpoint":"https://a"},{"id":2,"endpoint":"https://b"}]}`, "", 1},
		{200, `{"webhooks":[{"id":0,"endpoint":"https://h"}]}`, "", 0},
		{200, `{"webhooks":[{"id":1.5}]}`, "", 0},
		{200, `{"webhooks":null}`, "", 1},
		{200, `{}`, "", 0},
		{200, `[]`, "", 0},
		{200, `{"webhooks":[{"id":1,"endpoint":"https://h","secret":null,"webhook_settings":null}]}`, "", 1},
		{204, ``, "", 2},
		{201, `{"webhook_id":5}`, "", 3},
		{201, `{"webhook_id":"x"}`, "", 3},
		{200, ``, "", 4},
		{400, `{"errors":[{"code":"webhook_invalid_account","message":"none"}]}`, "", 0},
		{400, `{"errors":[{"code":"webhook_endpoint_error","message":"x"}]}`, "", 2},
		{429, `{"errors":[{"code":"request_limit_exceeded","message":"slow down"}]}`, "3", 0},
		{503, `<html>busy</html>`, "Wed, 21 Oct 2015 07:28:00 GMT", 5},
		{401, ``, "", 1},
		{500, `{"errors":"x"}`, "-1", 2},
		{302, ``, "", 0},
		{200, `{"api_keys":[{"id":182,"user":{"id":125039,"first_name":"John","last_name":"Smith"},"status":"active","create_date":"2018-08-07T23:27:58+00:00","last_used_date":"2018-08-18T19:08:19+00:00","name":"Key Name","is_legacy":false,"restricted_to_role_id":0}]}`, "", 6},
		{200, `{"api_keys":[{"id":"15","user":null,"status":"revoked","create_date":"2018-11-20 22:27:47","last_used_date":null,"is_legacy":"1","restricted_to_role_id":"102","acme_directory_url":"******nnAA"}]}`, "", 6},
		{200, `{"api_keys":null}`, "", 6},
		{200, `{"api_keys":[{"id":1,"create_date":"yesterday"}]}`, "", 6},
		{200, `{"id":184,"user":{"id":1},"status":"active","create_date":"2018-08-07T23:27:58Z","last_used_date":"0000-00-00 00:00:00","name":"k"}`, "", 7},
		{200, `{"id":184,"last_used_date":"2018-08-18T19:08:19.123+0000"}`, "", 7},
		{200, `{"id":0}`, "", 7},
		{201, `{"id":184,"api_key":"Aqdgb0p5U153195f22s6pw5cj0mfvp06xg89xw0xhh3zhc2"}`, "", 8},
		{201, `{"id":184,"api_key":""}`, "", 8},
		{201, `{"id":184}`, "", 8},
		{503, ``, "", 8},
		{204, ``, "", 9},
		{400, `{"errors":[{"code":"invalid_status","message":"already revoked"}]}`, "", 9},
		{200, `{"access_roles":[{"id":100,"name":"Orders"},{"id":102,"name":"View Only"}]}`, "", 10},
		{200, `{"api_roles":[{"id":"101","name":"Orders, Domains, Organizations"}]}`, "", 10},
		{200, `{"access_roles":[{"id":-1}]}`, "", 10},
	} {
		f.Add(seed.status, []byte(seed.body), seed.ra, seed.op)
	}

	var mu sync.Mutex
	var status int
	var body []byte
	var retryAfter string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b, ra := status, body, retryAfter
		mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(st)
		w.Write(b)
	}))
	f.Cleanup(srv.Close)
	const apiKey = "fuzz-api-key-7c41d0"
	c, err := certcentral.New(certcentral.Config{
		BaseURL:   srv.URL + "/services/v2",
		APIKey:    apiKey,
		NoLimiter: true,
		Clock:     certcentraltest.NewFakeClock(t0),
		Timeout:   5 * time.Second,
		Retry:     certcentral.RetryPolicy{MaxAttempts: 2},
	})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, st uint16, b []byte, ra string, op uint8) {
		code := 200 + int(st)%400 // 200..599
		mu.Lock()
		status, body, retryAfter = code, b, ra
		mu.Unlock()
		ctx := context.Background()
		ok2xx := code < 300
		var err error
		switch op % 11 {
		case 0:
			var ws []certcentral.Webhook
			ws, err = c.ListWebhooks(ctx)
			if err == nil {
				for _, w := range ws {
					wellFormed(t, w)
				}
			}
		case 1:
			var w certcentral.Webhook
			w, err = c.GetWebhook(ctx, 0)
			if err == nil {
				wellFormed(t, w)
			}
		case 2:
			err = c.UpdateWebhook(ctx, 3, certcentral.UpdateRequest{Endpoint: "https://h/x", Secret: certcentral.SecretValue("fuzz-secret-fuzz-secret-fuzz-secret")})
		case 3:
			var id int
			id, err = c.CreateWebhook(ctx, certcentral.CreateRequest{Endpoint: "https://h/x"})
			if err == nil && id <= 0 {
				t.Fatalf("CreateWebhook returned id %d without error", id)
			}
		case 4:
			err = c.TestEndpoint(ctx, "https://h/x", certcentral.RemoveSecret())
		case 5:
			err = c.CheckChallenge(ctx, 3, "tok")
		case 6:
			var ks []certcentral.APIKey
			ks, err = c.ListKeys(ctx, 125039)
			for _, k := range ks {
				wellFormedKey(t, k)
			}
		case 7:
			var k certcentral.APIKey
			k, err = c.GetKey(ctx, 184)
			if err == nil {
				wellFormedKey(t, k)
			}
		case 8:
			var ck certcentral.CreatedKey
			ck, err = c.CreateKey(ctx, 125039, "keyroll fuzz r1", 102)
			if err == nil && (ck.ID <= 0 || ck.Key == "" || strings.ContainsAny(ck.Key, "\r\n")) {
				t.Fatalf("CreateKey returned %d without error", ck.ID)
			}
		case 9:
			err = c.RevokeKey(ctx, 184)
		case 10:
			var roles []certcentral.AccessRole
			roles, err = c.AccessRoles(ctx)
			for _, r := range roles {
				if r.ID <= 0 {
					t.Fatalf("role id %d", r.ID)
				}
			}
		}
		if err == nil {
			if !ok2xx {
				t.Fatalf("status %d gave no error", code)
			}
			return
		}
		text := err.Error()
		if text == "" || strings.Contains(text, apiKey) || strings.Contains(text, "fuzz-secret-fuzz-secret") {
			t.Fatalf("bad error text %q", text)
		}
		var te *certcentral.TransportError
		if badHeader(ra) && errors.As(err, &te) {
			return // the server sent an invalid header line; the transport rejects it
		}
		if !ok2xx {
			var ae *certcentral.APIError
			if !errors.As(err, &ae) || ae.Status != code {
				t.Fatalf("status %d gave %v (%T)", code, err, err)
			}
			if ae.Retryable() != (code == 429 || code >= 500) || ae.CredentialsRejected() != (code == 401 || code == 403) {
				t.Fatalf("status %d misclassified", code)
			}
		} else if certcentral.IsRetryable(err) {
			t.Fatalf("2xx answer gave a retryable error: %v", err)
		}
	})
}

func wellFormed(t *testing.T, w certcentral.Webhook) {
	t.Helper()
	if w.ID <= 0 || w.Endpoint == "" || (!w.SecretReturned && w.Secret != "") {
		t.Fatalf("ill-formed webhook %#v", w)
	}
	if w.Settings != nil && !jsonValid(w.Settings) {
		t.Fatalf("invalid settings %q", w.Settings)
	}
}

func wellFormedKey(t *testing.T, k certcentral.APIKey) {
	t.Helper()
	if k.ID <= 0 || (!k.LastUsed.IsZero() && k.LastUsed.Location() != time.UTC) || (!k.Created.IsZero() && k.Created.Location() != time.UTC) {
		t.Fatalf("ill-formed key %+v", k)
	}
}

func jsonValid(b []byte) bool { return json.Valid(b) }

// badHeader reports whether v cannot be sent as a header value intact.
func badHeader(v string) bool {
	return strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}
