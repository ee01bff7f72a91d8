package certcentraltest

import (
	"encoding/json"
	"net/http"
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
	LastUsed    time.Time `json:"last_used_date"` // zero: never used
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
