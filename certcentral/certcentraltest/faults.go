package certcentraltest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an injected misbehaviour for the next Count requests that match
// Method and Path (after authentication; faults are checked before the rate
// limit, and requests they answer do not count against it).
type Fault struct {
	Method string // "" matches any method
	// Path is relative to BasePath, e.g. "/webhook/1001"; "" matches any path, and a
	// Path ending in "*" every path with that prefix, e.g. "/key/user/*".
	Path string
	// Count is how many matching requests the fault affects: 0 means 1, a
	// negative count means until ClearFaults.
	Count int
	// Latency delays matching requests (real time) before anything else.
	Latency time.Duration
	// Status, when non-zero, answers the request with this status without
	// processing it. Body is the raw body; when empty, a DigiCert error body
	// with a code fitting the status is sent, unless RawBody is set, in which
	// case Body is sent as is (even empty). ContentType defaults to
	// application/json. RetryAfter, if not empty, is sent as Retry-After.
	Status      int
	Body        string
	RawBody     bool
	ContentType string
	RetryAfter  string
	// DropResponse processes the request normally, applying any change, and
	// then closes the connection without answering.
	DropResponse bool
	// Apply, with Status, processes the request normally, applying any change (creating
	// a key, say), and then answers Status instead: a response lost behind a proxy.
	Apply bool
	// ResponseLatency delays the answer after the request was processed (real time):
	// with a client timeout shorter than it, the change is applied and the client sees
	// a timeout.
	ResponseLatency time.Duration
	// DropRequest closes the connection without processing the request.
	DropRequest bool
}

type faultState struct {
	Fault
	left int // < 0: unlimited
}

func (f *faultState) matches(method, path string) bool {
	if f.left == 0 || (f.Method != "" && !strings.EqualFold(f.Method, method)) {
		return false
	}
	if prefix, ok := strings.CutSuffix(f.Path, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return f.Path == "" || f.Path == path
}

// Inject adds a fault. Faults are tried in the order injected; one request
// triggers at most one fault.
func (s *Server) Inject(f Fault) {
	f.Path = strings.TrimPrefix(f.Path, BasePath)
	left := f.Count
	if left == 0 {
		left = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, left: left})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FailNext answers the next n requests with status and a DigiCert error body.
func (s *Server) FailNext(n, status int) {
	s.Inject(Fault{Count: max(n, 1), Status: status})
}

// Burst429 answers the next n requests 429 request_limit_exceeded, with
// Retry-After in whole seconds when retryAfter > 0.
func (s *Server) Burst429(n int, retryAfter time.Duration) {
	f := Fault{Count: max(n, 1), Status: http.StatusTooManyRequests}
	if retryAfter > 0 {
		f.RetryAfter = strconv.Itoa(int((retryAfter + time.Second - 1) / time.Second))
	}
	s.Inject(f)
}

// DropNextResponse applies the next request matching method and path and
// then closes the connection without answering.
func (s *Server) DropNextResponse(method, path string) {
	s.Inject(Fault{Method: method, Path: path, DropResponse: true})
}

// LoseNextKeyCreate makes the next POST /key/user/{id} create the key and lose its
// answer: the connection is closed without an answer when status is 0, else status (a
// 5xx, say) is answered. The client cannot know whether the key exists.
func (s *Server) LoseNextKeyCreate(status int) {
	s.Inject(Fault{Method: http.MethodPost, Path: "/key/user/*", DropResponse: status == 0, Apply: status != 0, Status: status})
}

// takeFault consumes and returns the first fault matching the request, or nil.
func (s *Server) takeFault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(method, path) {
			continue
		}
		if f.left > 0 {
			f.left--
		}
		if f.left == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		c := f.Fault
		return &c
	}
	return nil
}

// faultReply is the answer of a fault with a Status.
func faultReply(f *Fault) reply {
	var r reply
	if f.Body != "" || f.RawBody {
		ct := f.ContentType
		if ct == "" {
			ct = "application/json"
		}
		r = reply{status: f.Status, header: http.Header{"Content-Type": {ct}}, body: []byte(f.Body)}
	} else {
		code, msg := codeFor(f.Status)
		r = errorReply(f.Status, code, msg)
	}
	if f.RetryAfter != "" {
		r.header.Set("Retry-After", f.RetryAfter)
	}
	return r
}

// codeFor picks an error code for an injected status.
func codeFor(status int) (code, msg string) {
	switch status {
	case http.StatusBadRequest:
		return "bad_request_format", "The request is malformed."
	case http.StatusUnauthorized:
		return "access_denied|invalid_key", "The API key provided is not valid."
	case http.StatusForbidden:
		return "access_denied|missing_permission", "Permission denied."
	case http.StatusNotFound:
		return "not_found", "Not found."
	case http.StatusTooManyRequests:
		return "request_limit_exceeded", "Too many requests. Please try again later."
	case http.StatusInternalServerError:
		return "internal_error", "An internal error occurred."
	case http.StatusBadGateway:
		return "bad_gateway", "Bad gateway."
	case http.StatusServiceUnavailable:
		return "service_unavailable", "The service is temporarily unavailable."
	case http.StatusGatewayTimeout:
		return "gateway_timeout", "Gateway timeout."
	}
	return "error", http.StatusText(status)
}
