package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/notify"
	"github.com/keyroll/keyroll/internal/receivertest"
	"github.com/keyroll/keyroll/internal/syncbuf"
)

const secretKey = "SECRETSECRETSECRETSECRETSECRETSECRETSECRETSECR"

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func failedRecord() evidence.Record {
	return evidence.Record{RotationID: "r-42", Target: "prod-us", WebhookID: 7, Trigger: evidence.TriggerCronJob,
		StartedAt: t0, FinishedAt: t0.Add(time.Second), Outcome: evidence.OutcomeFailed,
		OldFingerprint: "sha256:1a2b3c4d", NewFingerprint: "sha256:5e6f7a8b",
		Error: &evidence.ErrorInfo{Code: "drift", Message: "DigiCert's live secret is not a key in Vault"}}
}

func TestNotifyFormatsAndFilters(t *testing.T) {
	slack, js, quiet := receivertest.Start(t), receivertest.Start(t), receivertest.Start(t)
	n := &notify.Notifier{Endpoints: []notify.Endpoint{
		{URL: slack.URL + "/services/T000/B000/XXXX", Format: notify.FormatSlack, On: []string{"failed", "needs_human", "recovered"}},
		{URL: js.URL, Format: notify.FormatJSON, On: []string{"needs_human"}},
		{URL: quiet.URL, Format: notify.FormatJSON, On: []string{"rotated"}},
	}}
	ev := notify.Event{Names: []string{"needs_human", "failed"}, Record: failedRecord()}
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := slack.Bodies(); len(got) != 1 || got[0] != `{"text":"keyroll prod-us: needs human (error drift: DigiCert's live secret is not a key in Vault); key sha256:1a2b3c4d → sha256:5e6f7a8b; rotation r-42"}` {
		t.Errorf("slack got %q", got)
	}
	got := js.Bodies()
	if len(got) != 1 {
		t.Fatalf("json got %d messages", len(got))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["event"] != "needs_human" || m["rotation_id"] != "r-42" || m["target"] != "prod-us" ||
		m["new_fingerprint"] != "sha256:5e6f7a8b" || m["error"].(map[string]any)["code"] != "drift" {
		t.Errorf("json body = %s", got[0])
	}
	if n := len(quiet.Bodies()); n != 0 {
		t.Errorf("an endpoint not asking for the event got %d messages", n)
	}
}

func TestNotifyRetriesThenGivesUp(t *testing.T) {
	flaky := receivertest.Start(t, 503, 429)          // then 200
	down := receivertest.Start(t, 500, 500, 500, 500) // never
	rejecting := receivertest.Start(t, 404)           // a 4xx is not retried
	var logs syncbuf.Buffer
	n := &notify.Notifier{
		Endpoints: []notify.Endpoint{
			{URL: flaky.URL, Format: notify.FormatJSON, On: []string{"failed"}},
			{URL: down.URL + "/hook/credential-in-path", Format: notify.FormatJSON, On: []string{"failed"}},
			{URL: rejecting.URL, Format: notify.FormatSlack, On: []string{"failed"}},
		},
		Backoff: time.Millisecond,
		Log:     zerolog.New(&logs),
	}
	err := n.Notify(context.Background(), notify.Event{Names: []string{"failed"}, Record: failedRecord()})
	if len(flaky.Bodies()) != 3 {
		t.Errorf("flaky endpoint: %d attempts, want 3", len(flaky.Bodies()))
	}
	if len(down.Bodies()) != notify.DefaultAttempts {
		t.Errorf("down endpoint: %d attempts, want %d", len(down.Bodies()), notify.DefaultAttempts)
	}
	if len(rejecting.Bodies()) != 1 {
		t.Errorf("rejecting endpoint: %d attempts, want 1", len(rejecting.Bodies()))
	}
	if err == nil || !strings.Contains(err.Error(), "notify[1]") || !strings.Contains(err.Error(), "notify[2]") || strings.Contains(err.Error(), "notify[0]") {
		t.Errorf("err = %v", err)
	}
	for _, out := range []string{err.Error(), logs.String()} {
		if strings.Contains(out, "credential-in-path") {
			t.Errorf("an endpoint's path leaked: %s", out)
		}
	}
}

func TestNotifyTimeout(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	n := &notify.Notifier{Endpoints: []notify.Endpoint{{URL: slow.URL, Format: notify.FormatJSON, On: []string{"failed"}}},
		Attempts: 2, Timeout: 20 * time.Millisecond, Backoff: time.Millisecond}
	start := time.Now()
	if err := n.Notify(context.Background(), notify.Event{Names: []string{"failed"}, Record: failedRecord()}); err == nil {
		t.Error("a receiver that never answers must give an error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// Messages are built from the evidence record, which names keys by fingerprint only.
func TestBodyHasNoKey(t *testing.T) {
	rec := failedRecord()
	for _, f := range []string{notify.FormatSlack, notify.FormatJSON} {
		b, err := notify.Body(f, "failed", rec)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secretKey) {
			t.Errorf("%s body carries a key", f)
		}
	}
	if _, err := notify.Body("xml", "failed", rec); err == nil {
		t.Error("unknown format must fail")
	}
}

func ExampleText() {
	rec := evidence.Record{RotationID: "r-7", Target: "prod-us", Outcome: evidence.OutcomeRotated,
		OldFingerprint: "sha256:1a2b3c4d", NewFingerprint: "sha256:5e6f7a8b"}
	fmt.Println(notify.Text("rotated", rec))
	// Output: keyroll prod-us: rotated; key sha256:1a2b3c4d → sha256:5e6f7a8b; rotation r-7
}
