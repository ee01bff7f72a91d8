// Package notify posts the outcome of a rotation to the endpoints of the `notify:`
// configuration: Slack incoming webhooks or any receiver of JSON. A message names the
// target, the event, the error code, the rotation id and the key fingerprints, never a
// key. Delivery is retried with a timeout; a failed notification is logged and never
// fails a rotation.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/redact"

	"github.com/keyroll/keyroll/internal/evidence"
)

// Formats of an Endpoint.
const (
	FormatSlack = "slack" // {"text": "..."}, for a Slack incoming webhook
	FormatJSON  = "json"  // the evidence record's fields plus "event"
)

// Defaults for the zero values of Notifier.
const (
	DefaultAttempts = 3
	DefaultTimeout  = 10 * time.Second // per attempt
	DefaultBackoff  = time.Second      // before the second attempt, doubled after
)

// Endpoint is one receiver and the events it asks for.
type Endpoint struct {
	URL    string // never logged: a Slack webhook URL is a credential
	Format string
	On     []string
}

// Event is one outcome to tell: its name (rotated, resumed, skipped, failed,
// needs_human, recovered) and the run's evidence record.
type Event struct {
	Names  []string // the event's names, most specific first, e.g. needs_human, failed
	Record evidence.Record
}

// Notifier posts events to its endpoints. Its zero value, with Endpoints set, is ready.
type Notifier struct {
	Endpoints []Endpoint
	Client    *http.Client // nil: http.DefaultClient
	Attempts  int
	Timeout   time.Duration
	Backoff   time.Duration
	Log       zerolog.Logger
}

// Notify posts ev to every endpoint that asks for one of its names, each in parallel,
// and returns when all are done. Failures are logged (endpoint index and host only)
// and returned joined; callers may ignore them.
func (n *Notifier) Notify(ctx context.Context, ev Event) error {
	var wg sync.WaitGroup
	errs := make([]error, len(n.Endpoints))
	for i, ep := range n.Endpoints {
		name, ok := firstWanted(ep.On, ev.Names)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.post(ctx, ep, name, ev.Record); err != nil {
				errs[i] = redact.Error(fmt.Errorf("notify[%d] (%s): %w", i, redact.URL(ep.URL), err), ep.URL)
				n.Log.Warn().Err(errs[i]).Str("event", name).Str("target", ev.Record.Target).
					Str("rotation_id", ev.Record.RotationID).Msg("notification not delivered")
				return
			}
			n.Log.Debug().Int("notify", i).Str("event", name).Str("target", ev.Record.Target).Msg("notification delivered")
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func firstWanted(on, names []string) (string, bool) {
	for _, n := range names {
		if slices.Contains(on, n) {
			return n, true
		}
	}
	return "", false
}

// errPermanent marks an answer that a retry will not change (a 4xx other than 429).
var errPermanent = errors.New("rejected")

func (n *Notifier) post(ctx context.Context, ep Endpoint, event string, rec evidence.Record) error {
	body, err := Body(ep.Format, event, rec)
	if err != nil {
		return err
	}
	attempts, timeout, backoff := n.Attempts, n.Timeout, n.Backoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	for a := 1; ; a++ {
		err = n.once(ctx, ep.URL, body, timeout)
		if err == nil || errors.Is(err, errPermanent) || a == attempts {
			if err != nil {
				err = fmt.Errorf("attempt %d of %d: %w", a, attempts, err)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("attempt %d of %d: %w (then %w)", a, attempts, err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (n *Notifier) once(ctx context.Context, u string, body []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: bad URL", errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyroll")
	c := n.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is a credential: keep it out of the message
		}
		return fmt.Errorf("post: %w", redact.Error(err, u))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("status %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: status %d", errPermanent, resp.StatusCode)
	}
}

// Body returns the message for event and rec in format: for slack a {"text"} message,
// for json the record's fields plus "event". Neither carries a key: the record holds
// fingerprints only.
func Body(format, event string, rec evidence.Record) ([]byte, error) {
	switch format {
	case FormatSlack:
		return json.Marshal(map[string]string{"text": Text(event, rec)})
	case FormatJSON:
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode record: %w", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("encode record: %w", err)
		}
		m["event"] = event
		return json.Marshal(m)
	}
	return nil, fmt.Errorf("%w: unknown format %q", errPermanent, format)
}

// Text is the one-line human message of an event.
func Text(event string, rec evidence.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "keyroll %s: %s", rec.Target, strings.ReplaceAll(event, "_", " "))
	if rec.Error != nil {
		fmt.Fprintf(&b, " (error %s: %s)", rec.Error.Code, rec.Error.Message)
	}
	if rec.NewFingerprint != "" {
		fmt.Fprintf(&b, "; key %s → %s", orNone(rec.OldFingerprint), rec.NewFingerprint)
	} else if rec.OldFingerprint != "" {
		fmt.Fprintf(&b, "; current key %s", rec.OldFingerprint)
	}
	if event == "revoked_in_use" {
		for _, s := range rec.Steps {
			if s.Name == "revoke" {
				fmt.Fprintf(&b, "; %s", s.Detail) // which key, when last used: never a key
			}
		}
	}
	fmt.Fprintf(&b, "; rotation %s", rec.RotationID)
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
