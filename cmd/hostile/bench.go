package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyroll/keyroll/internal/hostile"
)

const benchKey = "BenchValidKey0123456789abcdefghijklmnopqrstuvwx"

// phase is one measured phase: valid deliveries, with or without the attack.
type phase struct {
	kind, attack  string
	sent, okFirst int
	p50, p99      time.Duration
	peakRSS       int64 // KiB
	handshakeLogs int   // log lines about failed handshakes (guarded only)
}

func benchCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	d := fs.Duration("d", 10*time.Second, "how long the valid sender sends in each phase")
	idle := fs.Int("idle", 1000, "idle keep-alive connections from one source")
	slow := fs.Int("slowloris", 50, "slowloris connections from one source")
	bogus := fs.Int("handshakes", 2000, "bogus TLS handshakes")
	wrong := fs.Int("wrong-key-workers", 2, "clients sending wrong keys back to back")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hostile-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certFile, keyFile, pool, err := selfSigned(dir)
	if err != nil {
		return err
	}
	var rows []phase
	for _, kind := range []string{"guarded", "bare"} {
		logFile := filepath.Join(dir, kind+".log")
		srv, addr, err := startServer(ctx, kind, certFile, keyFile, logFile)
		if err != nil {
			return err
		}
		t := hostile.Target{Addr: addr, TLSConfig: &tls.Config{RootCAs: pool}, Path: "/webhook", ValidKey: benchKey}
		for _, attacked := range []bool{false, true} {
			var a *hostile.Attack
			if attacked {
				a = &hostile.Attack{Target: t, IdleConns: *idle, Slowloris: *slow, BogusHandshakes: *bogus, WrongKeyWorkers: *wrong}
			}
			p := measure(ctx, t, a, srv.Process.Pid, *d)
			p.kind = kind
			if b, err := os.ReadFile(logFile); err == nil {
				p.handshakeLogs = countLines(string(b), "TLS handshake error")
			}
			rows = append(rows, p)
			fmt.Fprintf(os.Stderr, "hostile: %s, %s: %d/%d ok, p50 %s, p99 %s, peak RSS %d KiB\n", kind, p.attack, p.okFirst, p.sent, p.p50, p.p99, p.peakRSS)
		}
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}
	printTable(rows, *d, *idle, *slow, *bogus, *wrong)
	return nil
}

// startServer starts `hostile serve -kind kind` and returns it with its address.
func startServer(ctx context.Context, kind, certFile, keyFile, logFile string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	args := []string{"serve", "-kind", kind, "-cert", certFile, "-tls-key", keyFile, "-key", benchKey, "-log", logFile}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("%s server: %w", kind, err)
	}
	return cmd, strings.TrimSpace(addr), nil
}

// measure sends valid deliveries at 20 a second for d, under a when it is not nil,
// sampling pid's RSS.
func measure(ctx context.Context, t hostile.Target, a *hostile.Attack, pid int, d time.Duration) phase {
	p := phase{attack: "none"}
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if a != nil {
		p.attack = "attack"
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(actx) }()
		time.Sleep(time.Second)
	}
	wg.Add(1)
	go func() { defer wg.Done(); sampleRSS(actx, pid, &p.peakRSS) }()
	client := t.Client(net.IPv4(127, 0, 0, 1), 8)
	s := &hostile.Sender{Target: t, Client: client, Rate: 20, Retries: 10}
	ds := s.Run(ctx, d)
	stop()
	wg.Wait()
	client.CloseIdleConnections()
	p.sent = len(ds)
	for _, x := range ds {
		if x.OK() {
			p.okFirst++
		}
	}
	p.p50, p.p99 = hostile.Percentile(ds, 50), hostile.Percentile(ds, 99)
	return p
}

// sampleRSS keeps the largest VmRSS of pid in *peak (KiB) until ctx ends.
func sampleRSS(ctx context.Context, pid int, peak *int64) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb := rss(pid); kb > *peak {
			*peak = kb
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func printTable(rows []phase, d time.Duration, idle, slow, bogus, wrong int) {
	fmt.Printf("Valid deliveries at 20/s for %s per phase; attack: %d idle keep-alive connections (one source), %d slowloris, %d bogus TLS handshakes, %d wrong-key clients back to back.\n\n", d, idle, slow, bogus, wrong)
	fmt.Println("| server | attack | first-try OK | p50 | p99 | peak RSS |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		name := "keyroll listener (listener.Port)"
		if r.kind == "bare" {
			name = "bare net/http"
		}
		fmt.Printf("| %s | %s | %d/%d | %s | %s | %.1f MiB |\n", name, r.attack, r.okFirst, r.sent,
			r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), float64(r.peakRSS)/1024)
	}
	fmt.Println()
	for _, r := range rows {
		if r.attack == "attack" {
			fmt.Printf("- %s: %d log lines about failed TLS handshakes in all.\n", r.kind, r.handshakeLogs)
		}
	}
}
