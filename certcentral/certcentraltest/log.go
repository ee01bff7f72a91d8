package certcentraltest

import (
	"maps"
	"net/http"
	"slices"
	"time"
)

// Request is one logged API request.
type Request struct {
	Time           time.Time
	Method         string
	Path           string      // relative to BasePath, e.g. "/webhook/1001"
	Query          string      // raw query, if any
	KeyFingerprint string      // Fingerprint of X-DC-DEVKEY; "" when none was sent
	Header         http.Header // request headers without X-DC-DEVKEY
	Body           []byte      // the full request body
	Status         int         // status answered (or that would have been, if Dropped)
	Code           string      // first error code answered, if any
	Injected       bool        // answered by an injected fault
	Dropped        bool        // the connection was closed instead of answering
}

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// Delivery is one logged delivery of an event to a webhook endpoint.
type Delivery struct {
	Time     time.Time
	Event    string // e.g. "test_webhook_endpoint"
	Endpoint string
	// Key is the X-WEBHOOK-KEY sent ("" when KeySent is false). It is the
	// real secret, recorded so that tests can assert on it.
	Key     string
	KeySent bool
	// AccountFingerprint names the account whose API call or Deliver caused
	// the delivery.
	AccountFingerprint string
	Body               []byte // the JSON payload sent
	Status             int    // listener's status; 0 when unreachable
	Err                string // why the delivery failed, "" on 2xx
}

func (d Delivery) clone() Delivery {
	d.Body = slices.Clone(d.Body)
	return d
}

// Stats counts what the simulator did.
type Stats struct {
	Requests         map[string]int // by "METHOD /path", e.g. "PUT /webhook/1001"
	Statuses         map[int]int    // by status answered
	RateLimited      int            // 429s answered by the rate limiter
	Injected         int            // requests answered by injected faults
	Dropped          int            // responses dropped
	Deliveries       int
	FailedDeliveries int
}

func newStats() Stats {
	return Stats{Requests: map[string]int{}, Statuses: map[int]int{}}
}

// Requests returns copies of every logged request, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.clone()
	}
	return out
}

// RequestsTo returns copies of the logged requests with this method and path
// (relative to BasePath).
func (s *Server) RequestsTo(method, path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Deliveries returns copies of every logged delivery, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		out[i] = d.clone()
	}
	return out
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = maps.Clone(s.stats.Requests)
	st.Statuses = maps.Clone(s.stats.Statuses)
	return st
}

// Count429 returns how many requests were answered 429, by the rate limiter
// or by injected faults.
func (s *Server) Count429() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.Statuses[http.StatusTooManyRequests]
}

// ResetLog forgets the logged requests and deliveries and zeroes the stats.
// Accounts, faults and rate-limit windows are kept.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.deliveries, s.stats = nil, nil, newStats()
}

// logRequest records r; s.mu must be held.
func (s *Server) logRequest(r Request) {
	s.requests = append(s.requests, r)
	s.stats.Requests[r.Method+" "+r.Path]++
	s.stats.Statuses[r.Status]++
	if r.Injected {
		s.stats.Injected++
	}
	if r.Dropped {
		s.stats.Dropped++
	}
}
