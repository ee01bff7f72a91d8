package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

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
