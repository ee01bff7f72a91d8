package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyroll/keyroll/internal/testenv"
)

// vaultServer is a `vault server -dev` on 127.0.0.1 with a file audit device, so that
// every request keyroll (or the manual script) makes is counted.
type vaultServer struct {
	*testenv.VaultServer
	audit *auditLog
}

func startVault(ctx context.Context, ps *testenv.Group, bin, dir string) (*vaultServer, error) {
	logf, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the server has its own copy
	v, err := testenv.StartVault(ctx, testenv.VaultOptions{Bin: bin, Dir: dir, Log: logf, RootToken: "bench-root-" + randHex(8), Group: ps})
	if err != nil {
		return nil, err
	}
	c, err := v.NewClient(v.RootToken)
	if err != nil {
		v.Stop()
		return nil, err
	}
	auditPath := filepath.Join(dir, "vault-audit.log")
	_ = os.Remove(auditPath)
	if err := testenv.AuditFile(ctx, c, "file", auditPath); err != nil {
		v.Stop()
		return nil, err
	}
	audit := &auditLog{path: auditPath}
	audit.skip() // the audit enable itself
	return &vaultServer{VaultServer: v, audit: audit}, nil
}

// auditLog reads the Vault file audit device's log from where it last stopped.
type auditLog struct {
	path   string
	offset int64
}

// vaultOps is what a stretch of the audit log shows: requests by "operation path".
type vaultOps struct {
	total int
	byOp  map[string]int
}

func (o vaultOps) String() string { return countsString(o.byOp) }

// countsString lists counts by name, sorted: "GET /webhook ×2, PUT /webhook/{id} ×1".
func countsString(byOp map[string]int) string {
	keys := make([]string, 0, len(byOp))
	for k := range byOp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, byOp[k])
	}
	return strings.Join(parts, ", ")
}

// skip moves past everything logged so far.
func (a *auditLog) skip() { _, _ = a.read() }

// read returns the requests logged since the last read. The file device writes each
// entry before Vault answers, so everything a finished command did is there.
func (a *auditLog) read() (vaultOps, error) {
	ops := vaultOps{byOp: map[string]int{}}
	f, err := os.Open(a.path)
	if err != nil {
		return ops, err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return ops, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			a.offset += int64(len(line))
			var e struct {
				Type    string `json:"type"`
				Request struct {
					Operation string `json:"operation"`
					Path      string `json:"path"`
				} `json:"request"`
			}
			if json.Unmarshal(line, &e) == nil && e.Type == "request" {
				ops.total++
				ops.byOp[e.Request.Operation+" "+normalizePath(e.Request.Path)]++
			}
		}
		if err != nil {
			break
		}
	}
	return ops, nil
}

var numbered = regexp.MustCompile(`/(t|w)[0-9]+$`)

// normalizePath folds the per-target part of a fleet's paths so that the ops group.
func normalizePath(p string) string { return numbered.ReplaceAllString(p, "/${1}N") }

// sim is one `keyroll simulate` process.
type sim struct {
	url   string // http://127.0.0.1:PORT/services/v2
	base  string // http://127.0.0.1:PORT
	ids   []int  // webhook ids of the first account, when printed
	proc  *testenv.Proc
	stdio string
}

type simStats struct {
	Requests    map[string]int `json:"Requests"`
	Statuses    map[string]int `json:"Statuses"`
	RateLimited int            `json:"RateLimited"`
	Deliveries  int            `json:"Deliveries"`
	Failed      int            `json:"FailedDeliveries"`
}

func (s simStats) total() int {
	n := 0
	for _, v := range s.Requests {
		n += v
	}
	return n
}

// digicertOps is what the simulator saw between two snapshots.
type digicertOps struct {
	total, tooMany, deliveries, failedDeliveries int
	byOp                                         map[string]int
}

func (o digicertOps) String() string { return countsString(o.byOp) }

var webhookIDPath = regexp.MustCompile(`^(PUT /webhook/)[0-9]+`)

func diffStats(before, after simStats) digicertOps {
	o := digicertOps{byOp: map[string]int{}}
	for k, v := range after.Requests {
		if d := v - before.Requests[k]; d > 0 {
			o.total += d
			o.byOp[webhookIDPath.ReplaceAllString(k, "${1}{id}")] += d
		}
	}
	o.tooMany = after.Statuses["429"] - before.Statuses["429"]
	o.deliveries = after.Deliveries - before.Deliveries
	o.failedDeliveries = after.Failed - before.Failed
	return o
}

// startSim starts `keyroll simulate` with args besides --addr.
func startSim(ctx context.Context, ps *testenv.Group, keyroll, dir, name string, args ...string) (*sim, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := testenv.FreePort()
		if err != nil {
			return nil, err
		}
		out := filepath.Join(dir, name+".out")
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return nil, err
		}
		outf, err := os.Create(out)
		if err != nil {
			logf.Close()
			return nil, err
		}
		cmd := exec.Command(keyroll, append([]string{"simulate", "--addr", "127.0.0.1:" + itoa(port), "--log-level", "warn"}, args...)...)
		cmd.Stdout, cmd.Stderr = outf, logf
		p, err := ps.Start(name, cmd)
		logf.Close()
		outf.Close()
		if err != nil {
			return nil, err
		}
		s := &sim{base: "http://127.0.0.1:" + itoa(port), proc: p}
		s.url = s.base + "/services/v2"
		if err := testenv.WaitHTTP(ctx, s.base+"/_sim/stats", 20*time.Second); err != nil {
			ps.Stop(p, stopGrace)
			lastErr = err
			continue
		}
		b, _ := os.ReadFile(out)
		s.stdio = string(b)
		s.ids = parseIDs(s.stdio)
		return s, nil
	}
	return nil, lastErr
}

var idsLine = regexp.MustCompile(`webhook_ids?=([0-9]+)(?:-([0-9]+))?`)

// parseIDs reads the first account's webhook ids from simulate's output.
func parseIDs(out string) []int {
	m := idsLine.FindStringSubmatch(out)
	if m == nil {
		return nil
	}
	from, _ := strconv.Atoi(m[1])
	to := from
	if m[2] != "" {
		to, _ = strconv.Atoi(m[2])
	}
	var ids []int
	for i := from; i <= to; i++ {
		ids = append(ids, i)
	}
	return ids
}

// failedDeliveries describes the simulator's failed deliveries to the listener, if any.
func (s *sim) failedDeliveries(ctx context.Context) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/_sim/deliveries?failed=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var ds []struct {
		Time  time.Time `json:"time"`
		Event string    `json:"event"`
		Error string    `json:"error"`
	}
	if json.NewDecoder(resp.Body).Decode(&ds) != nil || len(ds) == 0 {
		return ""
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Time.Format("15:04:05.000") + " " + d.Event + ": " + d.Error
	}
	return fmt.Sprintf("%d failed deliveries (%s)", len(ds), strings.Join(parts, "; "))
}

func (s *sim) stats(ctx context.Context) (simStats, error) {
	var st simStats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/_sim/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// okListener is the webhook endpoint the simulator's seeded webhooks point at: it answers
// 200 to every delivery (the test event and the update's contact), as a listener that
// already knows the staged key would.
type okListener struct {
	url    string
	n      atomic.Int64
	failAt int64 // answer this delivery (1-based) 503, to test the driver's retries; 0: never
	srv    *http.Server
}

func startListener(failAt int64) (*okListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &okListener{url: "http://" + ln.Addr().String() + "/webhook", failAt: failAt}
	l.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
		if l.n.Add(1) == l.failAt {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

func (l *okListener) close() { _ = l.srv.Close() }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
