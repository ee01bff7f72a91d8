package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// replica is one `keyroll listen` process, restarted by its keeper whenever it ends. It
// takes deliveries once its /healthz has answered 200 since it (re)started, as a load
// balancer's readiness probe would decide.
type replica struct {
	name string
	port int
	url  string // http://127.0.0.1:PORT
	// adminAddr serves its /healthz (--admin-addr), never the webhook port.
	adminAddr string

	mu       sync.Mutex
	proc     *child
	ready    bool
	restarts int
}

func (r *replica) isReady() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// keep runs the replica until ctx ends.
func (h *harness) keep(ctx context.Context, r *replica) {
	for ctx.Err() == nil {
		p, err := spawn(h.sink, r.name, withEnv("VAULT_TOKEN", h.listenerToken), nil, h.keyroll,
			"listen", "--target", "soak", "--config", h.configFile(true), "--addr", "127.0.0.1:"+strconv.Itoa(r.port), "--admin-addr", r.adminAddr, "--log-level", "info")
		if err != nil {
			h.events.add("%s: %v", r.name, err)
			sleepCtx(ctx, time.Second)
			continue
		}
		r.mu.Lock()
		r.proc = p
		r.mu.Unlock()
		h.events.add("%s: started (pid %d)", r.name, p.Pid())
		go h.probe(ctx, r, p)
		select {
		case <-p.Done():
		case <-ctx.Done():
			p.Stop(5 * time.Second)
		}
		r.mu.Lock()
		r.ready, r.proc = false, nil
		r.mu.Unlock()
		if ctx.Err() == nil {
			h.events.add("%s: exited with %d", r.name, p.ExitCode())
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
}

// probe marks r ready once p's /healthz answers 200.
func (h *harness) probe(ctx context.Context, r *replica, p *child) {
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := c.Get("http://" + r.adminAddr + "/healthz")
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			r.mu.Lock()
			if r.proc == p {
				r.ready = true
			}
			r.mu.Unlock()
			h.events.add("%s: ready", r.name)
			return
		}
	}
}

// restart ends the replica (SIGKILL, or SIGTERM when graceful); its keeper starts it again.
func (r *replica) restart(graceful bool) {
	r.mu.Lock()
	p := r.proc
	r.ready = false
	r.restarts++
	r.mu.Unlock()
	if p == nil {
		return
	}
	if graceful {
		p.Signal(syscall.SIGTERM)
	} else {
		p.Signal(syscall.SIGKILL)
	}
}
