package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/evidence"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/notify"
)

const secretKey = "SECRETSECRETSECRETSECRETSECRETSECRETSECRETSECR"

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func failedRecord() evidence.Record {
	return evidence.Record{RotationID: "r-42", Target: "prod-us", WebhookID: 7, Trigger: evidence.TriggerCronJob,
		StartedAt: t0, FinishedAt: t0.Add(time.Second), Outcome: evidence.OutcomeFailed,
		OldFingerprint: "sha256:1a2b3c4d", NewFingerprint: "sha256:5e6f7a8b",
		Error: &evidence.ErrorInfo{Code: "drift", Message: "DigiCert's live secret is not a key in Vault"}}
}

// receiver is a local notification endpoint that records what it gets and answers
// the statuses queued in answers (then 200).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []string
	answers []int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		status := 200
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func TestNotifyFormatsAndFilters(t *testing.T) {
	slack, js, quiet := newReceiver(t), newReceiver(t), newReceiver(t)
	n := &notify.Notifier{Endpoints: []notify.Endpoint{
		{URL: slack.URL + "/services/T000/B000/XXXX", Format: notify.FormatSlack, On: []string{"failed", "needs_human", "recovered"}},
		{URL: js.URL, Format: notify.FormatJSON, On: []string{"needs_human"}},
		{URL: quiet.URL, Format: notify.FormatJSON, On: []string{"rotated"}},
	}}
	ev := notify.Event{Names: []string{"needs_human", "failed"}, Record: failedRecord()}
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := slack.got(); len(got) != 1 || got[0] != `{"text":"keyroll prod-us: needs human (error drift: DigiCert's live secret is not a key in Vault); key sha256:1a2b3c4d → sha256:5e6f7a8b; rotation r-42"}` {
		t.Errorf("slack got %q", got)
	}
	got := js.got()
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
	if n := len(quiet.got()); n != 0 {
		t.Errorf("an endpoint not asking for the event got %d messages", n)
	}
}

func TestNotifyRetriesThenGivesUp(t *testing.T) {
	flaky := newReceiver(t, 503, 429)          // then 200
	down := newReceiver(t, 500, 500, 500, 500) // never
	rejecting := newReceiver(t, 404)           // a 4xx is not retried
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
	if len(flaky.got()) != 3 {
		t.Errorf("flaky endpoint: %d attempts, want 3", len(flaky.got()))
	}
	if len(down.got()) != notify.DefaultAttempts {
		t.Errorf("down endpoint: %d attempts, want %d", len(down.got()), notify.DefaultAttempts)
	}
	if len(rejecting.got()) != 1 {
		t.Errorf("rejecting endpoint: %d attempts, want 1", len(rejecting.got()))
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
