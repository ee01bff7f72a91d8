package rotate_test

import (
	"testing"
	"time"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// TestWhen: the time rules status, the scheduler and metrics share, on the decision
// table's documents; Due on an hourly schedule.
func TestWhen(t *testing.T) {
	hourly := func(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) }
	pol := rotate.Policy{MinInterval: time.Hour}
	for _, tt := range []struct {
		name                      string
		doc                       keyset.Document
		notDue, windowEnd, retire time.Time
		due                       time.Time
	}{
		{"none", docNone, time.Time{}, time.Time{}, time.Time{}, t0.Add(time.Hour)},
		{"idle", docIdle, t0.Add(-47 * time.Hour), time.Time{}, time.Time{}, t0.Add(time.Hour)},
		{"idle, recent", docIdleRecent, t0.Add(50 * time.Minute), time.Time{}, time.Time{}, t0.Add(time.Hour)},
		{"previous open", docPrevOpen, t0.Add(-47 * time.Hour), t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour)},
		{"previous open past the tick", with(docPrevOpen, func(d *keyset.Document) { d.PreviousUntil = t0.Add(90 * time.Minute) }), t0.Add(-47 * time.Hour), t0.Add(90 * time.Minute), t0.Add(90 * time.Minute), t0.Add(2 * time.Hour)},
		{"previous expired", docPrevExpired, t0.Add(-47 * time.Hour), time.Time{}, t0, t0.Add(time.Hour)},
		{"recent, min_interval past the tick", with(docIdleRecent, func(d *keyset.Document) { d.CurrentSince = t0.Add(30 * time.Minute) }),
			t0.Add(90 * time.Minute), time.Time{}, time.Time{}, t0.Add(2 * time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := rotate.When(tt.doc, pol, t0)
			if !n.NotDueUntil.Equal(tt.notDue) || !n.WindowEnd.Equal(tt.windowEnd) || !n.Retire.Equal(tt.retire) {
				t.Errorf("When = %+v, want not due until %v, window end %v, retire %v", n, tt.notDue, tt.windowEnd, tt.retire)
			}
			if due := n.Due(hourly, t0); !due.Equal(tt.due) {
				t.Errorf("Due = %v, want %v", due, tt.due)
			}
		})
	}
}
