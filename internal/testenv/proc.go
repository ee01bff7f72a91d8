package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process in its own process group. Signals go to the whole group
// (grandchildren included), and the kernel kills the child if this process dies first
// (Pdeathsig), so that no server outlives the test or harness that started it.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	Started time.Time

	done   chan struct{}
	mu     sync.Mutex
	code   int  // exit code once done; -1 when a signal ended it
	killed bool // it was sent SIGKILL
}

// StartProc starts cmd in a new process group and waits for it in the background. A
// [LineWriter] given as cmd.Stdout or cmd.Stderr is flushed once the process has ended.
func StartProc(name string, cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Started: time.Now(), done: make(chan struct{}), code: -1}
	go p.wait()
	return p, nil
}

func (p *Proc) wait() {
	_ = p.Cmd.Wait()
	for _, w := range []io.Writer{p.Cmd.Stdout, p.Cmd.Stderr} {
		if lw, ok := w.(*LineWriter); ok {
			lw.Flush()
		}
	}
	p.mu.Lock()
	if ps := p.Cmd.ProcessState; ps != nil {
		p.code = ps.ExitCode()
	}
	p.mu.Unlock()
	close(p.done)
}

// Pid is the child's process id, which is also its process group's id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited and its output has been copied.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		p.mu.Lock()
		p.killed = true
		p.mu.Unlock()
	}
	_ = syscall.Kill(-p.Pid(), sig)
}

// Killed reports whether the process group was sent SIGKILL.
func (p *Proc) Killed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// ExitCode waits for the process and returns its exit code (-1: a signal ended it).
func (p *Proc) ExitCode() int {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

// Stop ends the process group: SIGTERM, then SIGKILL if it has not exited after grace. It
// returns once the process has exited; it is safe to call more than once.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
	}
}

// Kill sends SIGKILL to the process group and waits for the process to exit.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Group tracks the long-running children a harness starts, so that all of them are
// stopped on the way out, whatever happens. Its zero value is ready.
type Group struct {
	mu    sync.Mutex
	procs []*Proc
}

// Start starts cmd as [StartProc] does and tracks it.
func (g *Group) Start(name string, cmd *exec.Cmd) (*Proc, error) {
	p, err := StartProc(name, cmd)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// Stop stops p (see [Proc.Stop]) and no longer tracks it.
func (g *Group) Stop(p *Proc, grace time.Duration) {
	g.mu.Lock()
	for i, q := range g.procs {
		if q == p {
			g.procs = append(g.procs[:i], g.procs[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	p.Stop(grace)
}

// StopAll stops every tracked process, the last started first.
func (g *Group) StopAll(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(grace)
	}
}

// LineWriter hands each line written to it, without its line ending, to a function: give
// one as a child's Stdout or Stderr to follow its log lines as they come. Lines longer
// than 1 MiB are handed over in pieces. Writes are serialised.
type LineWriter struct {
	mu   sync.Mutex
	line func(string)
	buf  []byte
}

// Lines returns a [LineWriter] that calls line for each line.
func Lines(line func(string)) *LineWriter { return &LineWriter{line: line} }

const maxLine = 1 << 20

// Write hands over every complete line in what has been written so far.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	rest := w.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		w.line(string(bytes.TrimSuffix(rest[:i], []byte{'\r'})))
		rest = rest[i+1:]
	}
	if len(rest) > maxLine {
		w.line(string(rest))
		rest = nil
	}
	w.buf = append(w.buf[:0], rest...)
	return len(p), nil
}

// Flush hands over a last line that has no line ending.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
}
