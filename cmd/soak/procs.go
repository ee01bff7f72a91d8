package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/keyroll/keyroll/internal/testenv"
)

// child is one process the soak started: keyroll run, keyroll schedule or a listener.
type child = testenv.Proc

// logSink writes every line the children print to one file, prefixed with the child's name.
type logSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *logSink) line(name, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "%s %s %s\n", time.Now().UTC().Format("15:04:05.000"), name, text)
}

// spawn starts a child in its own process group; onLine, when set, sees each line of its
// stderr (keyroll's JSON logs) as it comes.
func spawn(sink *logSink, name string, env []string, onLine func(string), bin string, args ...string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = testenv.Lines(func(line string) {
		sink.line(name, line)
		if onLine != nil {
			onLine(line)
		}
	})
	cmd.Stdout = testenv.Lines(func(line string) { sink.line(name+" (stdout)", line) })
	return testenv.StartProc(name, cmd)
}

// sleepCtx sleeps for d unless ctx ends first; it reports whether it slept the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool { return sleepUntil(ctx.Done(), d) }

// sleepUntil sleeps for d unless stop is closed first; it reports whether it slept the
// whole time.
func sleepUntil(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

func withEnv(kv ...string) []string {
	out := os.Environ()
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}
