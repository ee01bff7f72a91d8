package certcentral_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// Example rotates a webhook's secret the way keyroll does: read the webhook,
// then PUT it back with the same endpoint and settings and only a new secret.
func Example() {
	const apiKey = "example-api-key"
	const secret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"

	// A webhook listener that accepts any key, and a simulated CertCentral.
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer listener.Close()
	sim := certcentraltest.NewServer(certcentraltest.AllowHTTPEndpoints())
	defer sim.Close()
	sim.AddAccount(apiKey).SetWebhook(certcentraltest.Webhook{
		Endpoint: listener.URL + "/hook?team=a&env=prod",
		Events:   []string{"certificate_issued"},
	})

	client, err := certcentral.New(certcentral.Config{
		BaseURL:   sim.URL(), // certcentral.USBaseURL in production
		APIKey:    apiKey,
		UserAgent: "keyroll/example",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	live, err := client.GetWebhook(ctx, 0) // 0: the account's one webhook
	if err != nil {
		fmt.Println(err)
		return
	}
	err = client.UpdateWebhook(ctx, live.ID, certcentral.UpdateRequest{
		Endpoint: live.Endpoint, // byte for byte as read
		Secret:   certcentral.SecretValue(secret),
		Settings: live.Settings, // as read; Events nil: subscriptions unchanged
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	after, _ := client.GetWebhook(ctx, live.ID)
	fmt.Println(after.ID, after.Status, after.Events, after.Secret == secret)
	fmt.Printf("%v\n", after.Secret == secret && after.Endpoint == live.Endpoint)
	fmt.Printf("%+v\n", certcentral.SecretValue(secret))

	_, err = client.GetWebhook(ctx, 99)
	fmt.Println(errors.Is(err, certcentral.ErrNoWebhook))
	// Output:
	// 1001 active [certificate_issued] true
	// true
	// [REDACTED]
	// true
}
