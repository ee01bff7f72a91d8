// Package soakbug holds the bugs the soak's self-test injects into keyroll to show that
// the soak catches them (`scripts/soak.sh selftest`). Each is a constant that is false
// unless keyroll is built with its build tag, which only the self-test does:
//
//	soakbug_skipwait       the executor skips the propagation wait
//	soakbug_ignorepending  listeners do not accept the pending key
//	soakbug_keeporphans    API-key rotations never revoke an orphan
//
// A shipped binary is built without these tags; the constants are then false and the
// compiler removes the code they guard.
package soakbug
