//go:build race

package listener_test

// raceEnabled reports whether the race detector is compiled in: it multiplies the cost of
// every TLS handshake, so load tests measure the detector instead of the listener.
const raceEnabled = true
