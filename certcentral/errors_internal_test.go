package certcentral

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestAPIErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *APIError
		want string
	}{
		{&APIError{Method: "PUT", Path: "/webhook/12", Status: 400,
			Errors: []ErrorDetail{{Code: "webhook_endpoint_error", Message: "Could not reach the endpoint."}}},
			"certcentral: PUT /webhook/12: 400 webhook_endpoint_error: Could not reach the endpoint."},
		{&APIError{Method: "GET", Path: "/webhook", Status: 502}, "certcentral: GET /webhook: 502 Bad Gateway"},
		{&APIError{Method: "GET", Path: "/webhook", Status: 599}, "certcentral: GET /webhook: 599"},
		{&APIError{Method: "GET", Path: "/webhook", Status: 400, Errors: []ErrorDetail{{Code: "a", Message: "x\ny"}, {Message: "m"}}},
			"certcentral: GET /webhook: 400 a: x y; (no code): m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		err              error
		retryable, creds bool
	}{
		{&APIError{Status: 429}, true, false},
		{&APIError{Status: 500}, true, false},
		{&APIError{Status: 503}, true, false},
		{&APIError{Status: 400}, false, false},
		{&APIError{Status: 404}, false, false},
		{&APIError{Status: 401}, false, true},
		{&APIError{Status: 403}, false, true},
		{&TransportError{Err: errors.New("eof")}, true, false},
		{&RetryError{Attempts: 3, Err: &APIError{Status: 503}}, true, false},
		{fmt.Errorf("wrapped: %w", &APIError{Status: 401}), false, true},
		{context.DeadlineExceeded, true, false},
		{context.Canceled, false, false},
		{ErrMalformedResponse, false, false},
		{nil, false, false},
	} {
		if got := IsRetryable(tc.err); got != tc.retryable {
			t.Errorf("IsRetryable(%v) = %t", tc.err, got)
		}
		if got := IsCredentialsRejected(tc.err); got != tc.creds {
			t.Errorf("IsCredentialsRejected(%v) = %t", tc.err, got)
		}
	}
	if !errors.Is(&APIError{Status: 404, Errors: []ErrorDetail{{Code: CodeWebhookNotFound}}}, ErrNoWebhook) ||
		errors.Is(&APIError{Status: 404, Errors: []ErrorDetail{{Code: CodeRouteNotFound}}}, ErrNoWebhook) {
		t.Errorf("APIError.Is(ErrNoWebhook) wrong")
	}
}

func TestDecodeErrors(t *testing.T) {
	redact := []string{"the-api-key-123", "s3cr3t-s3cr3t-s3cr3t"}
	for _, tc := range []struct {
		body string
		want []ErrorDetail
	}{
		{`{"errors":[{"code":"a","message":"b"}]}`, []ErrorDetail{{"a", "b"}}},
		{`{"errors":[{"code":"a","message":"key the-api-key-123 secret s3cr3t-s3cr3t-s3cr3t"}]}`,
			[]ErrorDetail{{"a", "key [REDACTED] secret [REDACTED]"}}},
		{``, nil},
		{`<html>oops</html>`, nil},
		{`{"errors":"nope"}`, nil},
		{`{"errors":[{}]}`, nil},
		{`{"error":"x"}`, nil},
	} {
		got := decodeErrors([]byte(tc.body), redact)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("decodeErrors(%q) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999", maxRetryAfterHeader},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := parseRetryAfter(h, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}.withDefaults()
	for n := 1; n < 70; n++ {
		limit := min(time.Second<<min(n-1, 10), 10*time.Second)
		for range 20 {
			if d := p.backoff(n); d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", n, d, limit)
			}
		}
	}
}

func TestEncodeRequest(t *testing.T) {
	for _, tc := range []struct {
		req  UpdateRequest
		want string
	}{
		{UpdateRequest{Endpoint: "https://h/a?b=1&c=<d>"}, `{"endpoint":"https://h/a?b=1&c=<d>"}`},
		{UpdateRequest{Endpoint: "https://h", Secret: RemoveSecret()}, `{"endpoint":"https://h","secret":""}`},
		{UpdateRequest{Endpoint: "https://h", Secret: SecretValue(`a"b\c`)}, `{"endpoint":"https://h","secret":"a\"b\\c"}`},
		{UpdateRequest{Endpoint: "https://h", Events: []string{}}, `{"endpoint":"https://h","events":[]}`},
		{UpdateRequest{Endpoint: "https://h", Events: []string{"x&y"}, Settings: []byte(" {\n\"a\" : \"<\"} ")},
			"{\"endpoint\":\"https://h\",\"events\":[\"x&y\"],\"webhook_settings\": {\n\"a\" : \"<\"} }"},
	} {
		got, err := tc.req.encode()
		if err != nil || string(got) != tc.want {
			t.Errorf("encode(%+v) = %s, %v; want %s", tc.req, got, err, tc.want)
		}
	}
}
