//go:build !soakbug_skipwait

package soakbug

// SkipWait, when true, makes the executor push a staged key without waiting propagation_delay (build tag soakbug_skipwait).
const SkipWait = false
