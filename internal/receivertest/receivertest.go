// Package receivertest is a local HTTP endpoint for tests of what keyroll posts
// (notifications): it records every body and answers the statuses it is given.
package receivertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Receiver is a running endpoint; URL is its address.
type Receiver struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []string
	answers []int
}

// Start runs a Receiver until t ends. It answers the statuses in answers to the first
// requests, in order, and 200 afterwards.
func Start(t testing.TB, answers ...int) *Receiver {
	r := &Receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		status := http.StatusOK
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

// Bodies returns the bodies received so far, in order.
func (r *Receiver) Bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}
