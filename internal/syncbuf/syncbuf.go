// Package syncbuf has a buffer that goroutines may write to at once, for capturing the
// logs and output of concurrent code in tests and test harnesses.
package syncbuf

import (
	"strings"
	"sync"
)

// Buffer is a strings.Builder guarded by a mutex. Its zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
	// Limit, when positive, drops writes once the buffer holds that many bytes.
	Limit int
}

// Write appends p (or drops it past Limit, still reporting success).
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Limit > 0 && s.b.Len() > s.Limit {
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
