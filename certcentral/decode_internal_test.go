package certcentral

import (
	"errors"
	"testing"
)

func TestDecodeList(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		ok       bool
		id       int
		settings string
		secret   *string
	}{
		{"unknown fields and string id", `{"webhooks":[{"id":"42","endpoint":"https://h","extra":{"x":[1]},"status":"active"}],"page":{"total":1}}`, true, 42, "", nil},
		{"nested wins", `{"webhooks":[{"id":1,"endpoint":"https://h","webhook_settings": {"n":1} }],"webhook_settings":{"top":1}}`, true, 1, `{"n":1}`, nil},
		{"top level", `{"webhook_settings":{"top" : true},"webhooks":[{"id":1,"endpoint":"https://h"}]}`, true, 1, `{"top" : true}`, nil},
		{"null settings and secret", `{"webhooks":[{"id":1,"endpoint":"https://h","secret":null,"webhook_settings":null}],"webhook_settings":null}`, true, 1, "", nil},
		{"empty secret returned", `{"webhooks":[{"id":1,"endpoint":"https://h","secret":""}]}`, true, 1, "", ptr("")},
		{"missing webhooks", `{}`, false, 0, "", nil},
		{"zero id", `{"webhooks":[{"id":0,"endpoint":"https://h"}]}`, false, 0, "", nil},
		{"fraction id", `{"webhooks":[{"id":1.5,"endpoint":"https://h"}]}`, false, 0, "", nil},
		{"no endpoint", `{"webhooks":[{"id":1}]}`, false, 0, "", nil},
		{"events not strings", `{"webhooks":[{"id":1,"endpoint":"https://h","events":[1]}]}`, false, 0, "", nil},
		{"not an object", `[]`, false, 0, "", nil},
	} {
		ws, err := decodeList([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if !tc.ok {
			continue
		}
		w := ws[0]
		if w.ID != tc.id || string(w.Settings) != tc.settings || (tc.settings == "" && w.Settings != nil) {
			t.Errorf("%s: got %v", tc.name, w)
		}
		if (tc.secret != nil) != w.SecretReturned || (tc.secret != nil && *tc.secret != w.Secret) {
			t.Errorf("%s: secret returned %t", tc.name, w.SecretReturned)
		}
	}
	if ws, err := decodeList([]byte(`{"webhooks":null}`)); err != nil || len(ws) != 0 {
		t.Errorf("null list: %v %v", ws, err)
	}
	if !errors.Is(&APIError{Errors: []ErrorDetail{{Code: CodeWebhookInvalidAccount}}}, ErrNoWebhook) {
		t.Errorf("webhook_invalid_account is not ErrNoWebhook")
	}
}

func ptr[T any](v T) *T { return &v }
