//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package evidence

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestAppendWaitsForTheLock(t *testing.T) {
	path, _ := writeChain(t, 1)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	other, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := f.Append(ctx, sample(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append while another process holds the lock = %v, want a deadline error", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := f.Append(t.Context(), sample(2))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Append did not wait for the lock: %v", err)
	default:
	}
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res, err := VerifyFile(path); err != nil || res.Records != 2 {
		t.Errorf("VerifyFile = %+v, %v", res, err)
	}
}
