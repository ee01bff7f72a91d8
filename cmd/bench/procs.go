package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// procs tracks every long-running child the driver starts, so that all of them are
// stopped on the way out, whatever happens.
type procs struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
}

// start starts cmd in its own process group and tracks it.
func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	p.cmds = append(p.cmds, cmd)
	p.mu.Unlock()
	return nil
}

// stop ends one tracked child (SIGTERM to its group, SIGKILL after 5 s) and waits for it.
func (p *procs) stop(cmd *exec.Cmd) {
	p.mu.Lock()
	found := false
	for i, c := range p.cmds {
		if c == cmd {
			p.cmds = append(p.cmds[:i], p.cmds[i+1:]...)
			found = true
			break
		}
	}
	p.mu.Unlock()
	if found { // else stopAll has it
		stopCmd(cmd)
	}
}

// stopAll ends every tracked child.
func (p *procs) stopAll() {
	p.mu.Lock()
	cmds := p.cmds
	p.cmds = nil
	p.mu.Unlock()
	for _, c := range cmds {
		stopCmd(c)
	}
}

func stopCmd(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}

// runResult is one measured run of a short-lived command.
type runResult struct {
	wall   time.Duration // process start to exit
	user   time.Duration
	sys    time.Duration
	maxRSS int64 // KiB
	stdout string
	stderr string
	code   int
}

func (r runResult) cpu() time.Duration { return r.user + r.sys }

// measure runs a command to completion and measures it from process start to exit.
func measure(ctx context.Context, timeout time.Duration, env []string, stderrTo io.Writer, name string, args ...string) (runResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if stderrTo != nil {
		cmd.Stderr = io.MultiWriter(&errb, stderrTo)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	r := runResult{wall: wall, stdout: out.String(), stderr: errb.String(), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.user = time.Duration(ru.Utime.Nano())
			r.sys = time.Duration(ru.Stime.Nano())
			r.maxRSS = ru.Maxrss
		}
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	return r, err
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

// waitHTTP polls url until it answers (any status) or the deadline passes.
func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up within %s", url, within)
}

func withEnv(base []string, kv ...string) []string {
	out := append([]string(nil), base...)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustWrite(path, text string) {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		fatalf("write %s: %v", path, err)
	}
}
