package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// eventLog keeps the last events of the soak (process starts and exits, faults, DigiCert
// secret changes, Vault versions, failed deliveries) for the report a violation prints.
// Keys appear only as fingerprints.
type eventLog struct {
	mu     sync.Mutex
	ring   []string
	next   int
	full   bool
	start  time.Time
	out    io.Writer // every event is also written here (the soak's event log file); may be nil
	outErr error
}

func newEventLog(size int, start time.Time, out io.Writer) *eventLog {
	return &eventLog{ring: make([]string, size), start: start, out: out}
}

// add records one event.
func (l *eventLog) add(format string, args ...any) {
	now := time.Now()
	line := fmt.Sprintf("%s +%8.3fs %s", now.UTC().Format("15:04:05.000"), now.Sub(l.start).Seconds(), fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = line
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	if l.out != nil && l.outErr == nil {
		_, l.outErr = fmt.Fprintln(l.out, line)
	}
}

// last returns the kept events, oldest first.
func (l *eventLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		return append([]string(nil), l.ring[:l.next]...)
	}
	return append(append([]string(nil), l.ring[l.next:]...), l.ring[:l.next]...)
}
