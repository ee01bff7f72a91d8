package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// serve serves srv on ln (TLS when srv.TLSConfig is set) until ctx ends or serving
// fails, then shuts it down gracefully: requests in flight get up to grace to finish.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, log zerolog.Logger) error {
	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	log.Info().Str("addr", ln.Addr().String()).Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// notifyStop turns SIGINT and SIGTERM into keyroll's two-stage stop, the one place that
// handles them: the first ends the returned context (commands stop gracefully: a rotation
// reaches a safe point, servers drain), a second closes hard (a running rotation is
// cancelled at once; its state stays resumable). release stops listening for signals.
func notifyStop(parent context.Context) (ctx context.Context, hard <-chan struct{}, release func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	hardc, done := make(chan struct{}), make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sigs:
			case <-done:
				return
			}
			if n == 1 {
				cancel()
				continue
			}
			close(hardc)
			return
		}
	}()
	return ctx, hardc, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
