package failure_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyroll/keyroll/internal/failure"
)

func TestOf(t *testing.T) {
	human := failure.New(failure.NeedsHuman, "drift")
	tests := []struct {
		name string
		err  error
		want failure.Kind
	}{
		{"nil", nil, failure.None},
		{"unclassified is retryable", errors.New("boom"), failure.Retryable},
		{"sentinel", human, failure.NeedsHuman},
		{"wrapped sentinel", fmt.Errorf("rotate: stage: %w", human), failure.NeedsHuman},
		{"outermost kind wins", failure.Wrap(failure.Retryable, fmt.Errorf("x: %w", human)), failure.Retryable},
		{"config", failure.Wrap(failure.Config, errors.New("bad")), failure.Config},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failure.Of(tt.err); got != tt.want {
				t.Errorf("Of = %v, want %v", got, tt.want)
			}
		})
	}
	if !errors.Is(fmt.Errorf("x: %w", human), human) {
		t.Error("a sentinel must match itself through wrapping")
	}
}

func TestWorst(t *testing.T) {
	retry := errors.New("later")
	usage := failure.New(failure.Usage, "flag")
	human := failure.New(failure.NeedsHuman, "drift")
	if got := failure.Worst(nil, retry, human, usage); got != failure.NeedsHuman {
		t.Errorf("Worst = %v, want needs_human", got)
	}
	if got := failure.Worst(nil, nil); got != failure.None {
		t.Errorf("Worst of nils = %v", got)
	}
	if failure.Wrap(failure.Usage, nil) != nil {
		t.Error("Wrap(nil) must be nil")
	}
}
