//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package evidence

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

const (
	lockShared    = syscall.LOCK_SH
	lockExclusive = syscall.LOCK_EX
)

// withLock runs fn holding a flock(2) lock of kind how on f, waiting for it as long as ctx
// allows. flock locks belong to the open file description, so they exclude other processes
// and other Files (other opens) in this process alike.
func withLock(ctx context.Context, f *os.File, how int, fn func() error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	flock := func(op int) error {
		var ferr error
		if err := rc.Control(func(fd uintptr) {
			for {
				ferr = syscall.Flock(int(fd), op)
				if ferr != syscall.EINTR {
					return
				}
			}
		}); err != nil {
			return err
		}
		return ferr
	}
	delay := time.Millisecond
	for {
		err := flock(how | syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			return fmt.Errorf("lock: %w", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lock: waiting for another writer: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
	defer flock(syscall.LOCK_UN)
	return fn()
}
