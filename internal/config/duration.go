package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that reads Go duration syntax plus a "d" suffix for days
// ("90d", "1d12h"). Negative durations are refused: no keyroll setting means anything by them.
type Duration time.Duration

// Errors ParseDuration wraps.
var (
	// ErrNegativeDuration: the duration is below zero.
	ErrNegativeDuration = errors.New("must not be negative")
	// ErrDurationOverflow: the duration does not fit in a time.Duration (about 292 years).
	ErrDurationOverflow = errors.New("too long (at most about 292 years)")
)

var dayCount = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// maxDays is the largest number of days a time.Duration holds.
const maxDays = float64(math.MaxInt64) / float64(24*time.Hour)

// ParseDuration parses Go duration syntax extended with whole or fractional days ("d").
// Negative, NaN, infinite and overflowing values are errors.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q: %w", s, ErrNegativeDuration)
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		if !dayCount.MatchString(s[:i]) {
			return 0, fmt.Errorf("invalid duration %q: want days such as 90d or 1.5d", s)
		}
		days, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || days > maxDays {
			return 0, fmt.Errorf("duration %q: %w", s, ErrDurationOverflow)
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = s[i+1:]
		if rest == "" {
			return total, nil
		}
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		if strings.Contains(err.Error(), "overflow") {
			return 0, fmt.Errorf("duration %q: %w", s, ErrDurationOverflow)
		}
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q: %w", s, ErrNegativeDuration)
	}
	if total > math.MaxInt64-d {
		return 0, fmt.Errorf("duration %q: %w", s, ErrDurationOverflow)
	}
	return total + d, nil
}

// UnmarshalYAML reads a duration string such as "24h" or "90d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// A *yaml.TypeError lets the decoder go on and report every bad value at once.
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration such as 24h or 90d", n.Line)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }
