//go:build unix

package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestServeStopsGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, time.Second, zerolog.Nop()) }()
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after the context ended = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return")
	}
}

// TestNotifyStopTwoStages sends this process SIGTERM twice: the first ends the context,
// the second closes hard.
func TestNotifyStopTwoStages(t *testing.T) {
	ctx, hard, release := notifyStop(context.Background())
	defer release()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first SIGTERM did not end the context")
	}
	select {
	case <-hard:
		t.Fatal("hard closed after one signal")
	default:
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hard:
	case <-time.After(5 * time.Second):
		t.Fatal("the second SIGTERM did not close hard")
	}
}
