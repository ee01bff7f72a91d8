//go:build !race

package listener_test

// raceEnabled reports whether the race detector is compiled in.
const raceEnabled = false
