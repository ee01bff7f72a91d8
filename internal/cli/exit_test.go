package cli_test

import (
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/rotate"
)

func TestExitCodeOfEachKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, cli.ExitOK},
		{"help", flag.ErrHelp, cli.ExitOK},
		{"usage", fmt.Errorf("%w: --parallel must be at least 1", cli.ErrUsage), cli.ExitUsage},
		{"config", &config.Error{Problems: config.FieldErrors{{Path: "targets", Msg: "required"}}}, cli.ExitUsage},
		{"no config file", fmt.Errorf("%w: x.yaml", config.ErrNoFile), cli.ExitUsage},
		{"rotation needs a human", &rotate.Error{Target: "t", Step: "reconcile", Kind: failure.NeedsHuman, Err: rotate.ErrDrift}, cli.ExitNeedsHuman},
		{"rotation retryable", &rotate.Error{Target: "t", Step: "push", Kind: failure.Retryable, Err: errors.New("timeout")}, cli.ExitRetry},
		{"drift sentinel", fmt.Errorf("x: %w", rotate.ErrDrift), cli.ExitNeedsHuman},
		{"credentials rejected", &certcentral.APIError{Method: "GET", Path: "/webhook", Status: 401}, cli.ExitNeedsHuman},
		{"DigiCert unavailable", &certcentral.APIError{Method: "GET", Path: "/webhook", Status: 503}, cli.ExitRetry},
		{"unclassified", errors.New("boom"), cli.ExitRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cli.ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
