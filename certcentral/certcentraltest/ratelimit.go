package certcentraltest

import (
	"slices"
	"sort"
	"time"
)

// Window is one rolling rate-limit window: at most Requests requests per API
// key in any interval of length Period.
type Window struct {
	Requests int
	Period   time.Duration
}

// DefaultRateLimits are DigiCert's documented limits per API key.
var DefaultRateLimits = []Window{
	{Requests: 100, Period: 5 * time.Second},
	{Requests: 1000, Period: 3 * time.Minute},
}

// keyRate is the sorted log of the request times counted for one key.
type keyRate struct {
	times []time.Time
}

// admit decides whether a request at now fits every window, counting it when
// it does (or when countRejected). When it does not, wait is how long until
// it would. A request counts in a window of period P when its time t satisfies
// now-P < t <= now.
func (k *keyRate) admit(now time.Time, windows []Window, countRejected bool) (ok bool, wait time.Duration) {
	var longest time.Duration
	for _, w := range windows {
		longest = max(longest, w.Period)
	}
	// Forget what no window can count any more.
	cut := sort.Search(len(k.times), func(i int) bool { return k.times[i].After(now.Add(-longest)) })
	k.times = slices.Delete(k.times, 0, cut)

	ok = true
	for _, w := range windows {
		if w.Requests <= 0 || w.Period <= 0 {
			continue
		}
		from := sort.Search(len(k.times), func(i int) bool { return k.times[i].After(now.Add(-w.Period)) })
		upto := sort.Search(len(k.times), func(i int) bool { return k.times[i].After(now) })
		if n := upto - from; n >= w.Requests {
			ok = false
			// The request w.Requests places back must leave the window.
			frees := k.times[upto-w.Requests].Add(w.Period)
			wait = max(wait, frees.Sub(now))
		}
	}
	if ok || countRejected {
		i := sort.Search(len(k.times), func(i int) bool { return k.times[i].After(now) })
		k.times = slices.Insert(k.times, i, now)
	}
	return ok, wait
}
