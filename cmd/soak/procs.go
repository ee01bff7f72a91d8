package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is one process the soak started: keyroll run, keyroll schedule or a listener.
type child struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	code    int  // exit code once done; -1 when a signal ended it
	killed  bool // the soak sent it SIGKILL
	mu      sync.Mutex
}

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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), code: -1}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.started = time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			sink.line(name, sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			sink.line(name+" (stdout)", sc.Text())
		}
	}()
	go func() {
		wg.Wait()
		_ = cmd.Wait()
		c.mu.Lock()
		if cmd.ProcessState != nil {
			c.code = cmd.ProcessState.ExitCode()
		}
		c.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// signal sends sig to the child's process group.
func (c *child) signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		c.mu.Lock()
		c.killed = true
		c.mu.Unlock()
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, sig)
}

// exitCode waits for the child and returns its exit code (-1: ended by a signal).
func (c *child) exitCode() int {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// stop ends the child: SIGTERM, then SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	c.signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		c.signal(syscall.SIGKILL)
		<-c.done
	}
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
