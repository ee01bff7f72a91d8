package certcentraltest_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// listIDs returns the ids GET /webhook lists.
func listIDs(t *testing.T, sim *certcentraltest.Server) []int {
	t.Helper()
	a := do(t, sim.URL(), "GET", "/webhook", key, "")
	if a.status != 200 {
		t.Fatalf("GET /webhook: %d %s", a.status, a.body)
	}
	var l struct {
		Webhooks []struct{ ID int }
	}
	if err := json.Unmarshal([]byte(a.body), &l); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, w := range l.Webhooks {
		ids = append(ids, w.ID)
	}
	return ids
}

func TestOneWebhookPerAccountByDefault(t *testing.T) {
	sim, acct, id, _ := setup(t)
	if ids := listIDs(t, sim); len(ids) != 1 || ids[0] != id {
		t.Fatalf("GET /webhook lists %v, want [%d]", ids, id)
	}
	if ws := acct.Webhooks(); len(ws) != 1 || ws[0].ID != id {
		t.Fatalf("Webhooks() = %v", ws)
	}
	// SetWebhook still replaces the one webhook, keeping its id.
	if got := acct.SetWebhook(certcentraltest.Webhook{Endpoint: "https://h/x"}); got != id || len(listIDs(t, sim)) != 1 {
		t.Fatalf("SetWebhook on a seeded account: id %d, list %v", got, listIDs(t, sim))
	}
}

func TestAddWebhook(t *testing.T) {
	sim, acct, first, ep := setup(t)
	second := acct.AddWebhook(certcentraltest.Webhook{Endpoint: ep, Secret: secret, Events: []string{"order_rejected"}})
	third := acct.AddWebhook(certcentraltest.Webhook{Endpoint: ep, Secret: secret})
	if ids := listIDs(t, sim); len(ids) != 3 || ids[0] != first || ids[1] != second || ids[2] != third {
		t.Fatalf("GET /webhook lists %v, want [%d %d %d]", ids, first, second, third)
	}

	// PUT by id changes that webhook only; the test event works as before.
	newSecret := "zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUTSRQPONM"
	if a := do(t, sim.URL(), "PUT", "/webhook/"+strconv.Itoa(second), key, `{"endpoint":"`+ep+`","secret":"`+newSecret+`"}`); a.status != 204 {
		t.Fatalf("PUT second: %d %s", a.status, a.body)
	}
	if a := do(t, sim.URL(), "POST", "/webhook/test-endpoint", key, `{"endpoint":"`+ep+`","secret":"`+newSecret+`"}`); a.status != 200 {
		t.Fatalf("test-endpoint: %d %s", a.status, a.body)
	}
	if w, ok := acct.WebhookByID(second); !ok || w.Secret != newSecret || w.Events[0] != "order_rejected" {
		t.Errorf("second webhook after PUT: %v %v", w, ok)
	}
	for _, id := range []int{first, third} {
		if w, _ := acct.WebhookByID(id); w.Secret != secret {
			t.Errorf("webhook %d changed by a PUT to %d", id, second)
		}
	}
	if acct.Webhook().ID != first {
		t.Errorf("Webhook() is %d, want the first, %d", acct.Webhook().ID, first)
	}
	if a := do(t, sim.URL(), "PUT", "/webhook/"+strconv.Itoa(third)+"/deactivate", key, ""); a.status != 204 {
		t.Fatalf("deactivate third: %d %s", a.status, a.body)
	}
	if w, _ := acct.WebhookByID(third); w.Status != certcentraltest.StatusInactive {
		t.Errorf("third webhook status %s", w.Status)
	}

	// keyroll's client needs an explicit id on such an account.
	c, err := certcentral.New(certcentral.Config{BaseURL: sim.URL(), APIKey: key, NoLimiter: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetWebhook(context.Background(), 0); !errors.Is(err, certcentral.ErrAmbiguousWebhook) {
		t.Errorf("GetWebhook(0) = %v, want ErrAmbiguousWebhook", err)
	}
	if w, err := c.GetWebhook(context.Background(), second); err != nil || w.Secret != newSecret {
		t.Errorf("GetWebhook(%d) = %v, %v", second, w, err)
	}

	acct.RemoveWebhook()
	if acct.HasWebhook() || len(acct.Webhooks()) != 0 {
		t.Errorf("RemoveWebhook left %v", acct.Webhooks())
	}
}
