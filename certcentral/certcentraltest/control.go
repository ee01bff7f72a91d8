package certcentraltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ControlPrefix is where [Server.ControlHandler] serves the simulator's control API,
// beside the simulated API under [BasePath].
const ControlPrefix = "/_sim/"

// ControlHandler returns a handler that serves the simulated API (as [Server.Handler])
// and, under [ControlPrefix], a control API for processes that drive a simulator they
// did not start (`keyroll simulate` serves it for demos, the soak and the benchmark):
//
//   - POST /_sim/deliver?api_key=K&event=E delivers event E (default
//     certificate_issued) to the webhook of K's account with its current secret, as
//     DigiCert does when something happens, and answers
//     {"event": E, "listener_status": N, "error": "…"};
//   - GET /_sim/stats answers [Stats] as JSON;
//   - GET /_sim/deliveries[?failed=1] answers the delivery log (only the failed ones
//     with failed=1) as JSON, without the keys: only whether one was sent;
//   - GET /_sim/keys[?api_key=K][&status=active] answers the API keys (of K's account
//     only, of one status only) as a JSON array of [ControlKey], never the keys
//     themselves: how the soak and the demo check that no active key made by keyroll
//     (named "keyroll …") is unknown to Vault.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.HandleFunc("POST "+ControlPrefix+"deliver", s.controlDeliver)
	mux.HandleFunc("GET "+ControlPrefix+"stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Stats())
	})
	mux.HandleFunc("GET "+ControlPrefix+"deliveries", s.controlDeliveries)
	mux.HandleFunc("GET "+ControlPrefix+"keys", s.controlKeys)
	return mux
}

// ControlKey is one API key as GET /_sim/keys shows it.
type ControlKey struct {
	Account     string    `json:"account"` // the account's Fingerprint
	ID          int       `json:"id"`
	UserID      int       `json:"user_id"`
	Name        string    `json:"name"`
	Status      string    `json:"status"`
	RoleID      int       `json:"restricted_to_role_id"`
	Created     time.Time `json:"create_date"`
	LastUsed    time.Time `json:"last_used_date,omitzero"` // omitted: never used
	Fingerprint string    `json:"fingerprint"`
}

// controlKeys serves GET /_sim/keys.
func (s *Server) controlKeys(w http.ResponseWriter, r *http.Request) {
	keys := s.Keys()
	if k := r.URL.Query().Get("api_key"); k != "" {
		acct := s.Account(k)
		if acct == nil {
			http.Error(w, "unknown api_key", http.StatusNotFound)
			return
		}
		keys = acct.Keys()
	}
	status := r.URL.Query().Get("status")
	out := []ControlKey{}
	for _, k := range keys {
		if status == "" || k.Status == status {
			out = append(out, ControlKey{k.Account, k.ID, k.UserID, k.Name, k.Status, k.RoleID, k.Created, k.LastUsed, k.Fingerprint})
		}
	}
	writeJSON(w, out)
}

// controlDeliver serves POST /_sim/deliver.
func (s *Server) controlDeliver(w http.ResponseWriter, r *http.Request) {
	acct := s.Account(r.URL.Query().Get("api_key"))
	if acct == nil {
		http.Error(w, "unknown api_key", http.StatusNotFound)
		return
	}
	event := r.URL.Query().Get("event")
	if event == "" {
		event = "certificate_issued"
	}
	status, err := acct.Deliver(r.Context(), event, map[string]any{"order_id": 12345, "certificate_id": 23456})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	writeJSON(w, map[string]any{"event": event, "listener_status": status, "error": msg})
}

// controlDelivery is a logged delivery as the control API shows it: without the key.
type controlDelivery struct {
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	Endpoint string    `json:"endpoint"`
	KeySent  bool      `json:"key_sent"`
	Status   int       `json:"status"`
	Error    string    `json:"error,omitempty"`
}

// controlDeliveries serves GET /_sim/deliveries.
func (s *Server) controlDeliveries(w http.ResponseWriter, r *http.Request) {
	failedOnly := r.URL.Query().Get("failed") != ""
	out := []controlDelivery{}
	for _, d := range s.Deliveries() {
		if !failedOnly || d.Err != "" {
			out = append(out, controlDelivery{d.Time, d.Event, d.Endpoint, d.KeySent, d.Status, d.Err})
		}
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Key returns the key as the Go API describes it.
func (k ControlKey) Key() Key {
	return Key{ID: k.ID, UserID: k.UserID, Name: k.Name, Status: k.Status, RoleID: k.RoleID, Created: k.Created,
		LastUsed: k.LastUsed, Fingerprint: k.Fingerprint, Account: k.Account}
}

// FetchKeys reads GET /_sim/keys from a simulator served by ControlHandler at root (its
// listener's URL, without BasePath, e.g. "http://127.0.0.1:8444"): the keys of apiKey's
// account ("": every account), of one status ("": any). hc nil: http.DefaultClient.
func FetchKeys(ctx context.Context, hc *http.Client, root, apiKey, status string) ([]Key, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	q := url.Values{}
	if apiKey != "" {
		q.Set("api_key", apiKey)
	}
	if status != "" {
		q.Set("status", status)
	}
	u := strings.TrimRight(root, "/") + ControlPrefix + "keys"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("certcentraltest: keys: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL carries the API key: name the path only.
		return nil, fmt.Errorf("certcentraltest: GET %skeys: %w", ControlPrefix, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("certcentraltest: GET %skeys: status %d", ControlPrefix, resp.StatusCode)
	}
	var cks []ControlKey
	if err := json.NewDecoder(resp.Body).Decode(&cks); err != nil {
		return nil, fmt.Errorf("certcentraltest: GET %skeys: %w", ControlPrefix, err)
	}
	out := make([]Key, len(cks))
	for i, k := range cks {
		out[i] = k.Key()
	}
	return out, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// UnknownKeys returns the active keys whose name starts with prefix and whose id is not
// in known: with prefix "keyroll " and known the ids every document records (current_id,
// pending_id, previous_id), the keys keyroll made that no document holds — the orphan
// invariant of the soak and the demo, which allow one per target while a rotation is in
// flight.
func UnknownKeys(keys []Key, prefix string, known ...int) []Key {
	var out []Key
	for _, k := range keys {
		if k.Status == KeyActive && strings.HasPrefix(k.Name, prefix) && !slices.Contains(known, k.ID) {
			out = append(out, k)
		}
	}
	return out
}
