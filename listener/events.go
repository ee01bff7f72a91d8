package listener

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/rs/zerolog"
)

// DigiCert's system events (docs/design.md, "The CertCentral API").
const (
	EventTest      = "test_webhook_endpoint"
	EventChallenge = "challenge_webhook_endpoint"
)

// Event is one delivery from DigiCert: {"event": "<type>", "data": {…}}.
type Event struct {
	Type string                     `json:"event"`
	Data map[string]json.RawMessage `json:"data,omitempty"`
}

// Field returns the data field name as text: a JSON string unquoted, a number or another
// value as written; "" when absent or null.
func (e Event) Field(name string) string {
	raw, ok := e.Data[name]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// ParseEvent reads a delivery's JSON body. The event type is required.
func ParseEvent(r io.Reader) (Event, error) {
	var e Event
	dec := json.NewDecoder(r)
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("listener: decode event: %w", err)
	}
	if e.Type == "" {
		return Event{}, errors.New("listener: decode event: no event type")
	}
	return e, nil
}

// EventHandler is a reference handler for DigiCert's deliveries, meant to sit behind
// Middleware: it parses the event, logs it (type, order_id and certificate_id when
// present, the role of the key that matched; for a challenge its token and webhook_id,
// which whoever completes the challenge needs) and answers 200. DigiCert's test and
// challenge events, and every other event type, get 200; a body that is not an event
// gets 400, one over DefaultMaxBodyBytes 413.
func EventHandler(log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		ev, err := ParseEvent(http.MaxBytesReader(w, r.Body, DefaultMaxBodyBytes))
		if err != nil {
			status := http.StatusBadRequest
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			log.Warn().Str("remote_addr", r.RemoteAddr).Int("status", status).Err(err).Msg("webhook delivery not understood")
			http.Error(w, http.StatusText(status), status)
			return
		}
		le := log.Info().Str("event", ev.Type).Str("remote_addr", r.RemoteAddr)
		if role, ok := RoleFromContext(r.Context()); ok {
			le = le.Str("key_role", role.String())
		}
		for _, f := range []string{"order_id", "certificate_id"} {
			if s := ev.Field(f); s != "" {
				le = le.Str(f, s)
			}
		}
		if ev.Type == EventChallenge {
			le = le.Str("challenge_token", ev.Field("token")).Str("webhook_id", ev.Field("webhook_id"))
		}
		le.Msg("webhook event")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
}
