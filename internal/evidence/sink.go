package evidence

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
)

// Sink receives evidence records. The rotation engine emits every record through one Sink.
type Sink interface {
	Emit(ctx context.Context, rec Record) error
}

// LogSink writes each record to Logger as an evidence log line (see Record.Log).
type LogSink struct {
	Logger zerolog.Logger
}

// Emit logs rec. It never fails.
func (s LogSink) Emit(_ context.Context, rec Record) error {
	rec.Log(s.Logger)
	return nil
}

// appender is implemented by *File: a sink that returns the record as written.
type appender interface {
	Append(ctx context.Context, rec Record) (Record, error)
}

// Multi emits each record to every one of its sinks in order; nil sinks are skipped. When a
// sink is a *File, the sinks after it receive the record as appended, with its prev_hash
// and hash, so list the File first: Multi{file, LogSink{Logger: log}}. A failing sink does
// not stop the others; Emit returns the errors of all that failed, joined.
type Multi []Sink

// Emit emits rec to every sink of m.
func (m Multi) Emit(ctx context.Context, rec Record) error {
	var errs []error
	for _, s := range m {
		if s == nil {
			continue
		}
		if a, ok := s.(appender); ok {
			written, err := a.Append(ctx, rec)
			if err != nil {
				errs = append(errs, err)
			}
			if written.Hash != "" { // written, perhaps not anchored
				rec = written
			}
			continue
		}
		if err := s.Emit(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
