// Package rotate is keyroll's rotation state machine (docs/design.md, "The rotation"):
// read the Vault document and DigiCert's live webhook, decide, and carry the decision
// out — stage a fresh key, wait for listeners to learn it, test it, push it, verify,
// promote — recording evidence. Every step is idempotent and a run that finds a staged key
// resumes it, so a crash or a second concurrent run at any point converges. The only lock
// is Vault's check-and-set.
//
// # The decision
//
// Decide is a pure function of the document (and its version), the live webhook as read,
// the policy, the run's options and the time. It returns the ordered steps, with the keys
// involved, or a refusal of one kind. The executor walks the steps; after a lost
// check-and-set it reads again and decides again. `keyroll run --dry-run` prints the same
// decision (Decision.Lines). The table, checked in order (first match wins):
//
//	webhook status not active                              refuse: not active (needs a human)
//	live key neither current nor pending, first read       refuse: read again (a concurrent run may have pushed)
//	  the same at the second read, no --force              refuse: drift (needs a human)
//	  the same at the second read, --force                 adopt the live key as previous, then as below
//	document staged (pending set), live key pending        resume: verify, promote
//	document staged, live key current/hidden/adopted       resume: [adopt,] wait, [test,] push, verify, promote
//	idle, promoted less than min_interval ago, no --force  refuse: not due (a skip, exit 0)
//	idle or no document                                    stage, wait, [test,] push, verify, promote
//
// The live key is only compared when DigiCert returns it and the document exists. stage
// writes the live key as current when there is no document yet (the first rotation), and
// a drifted key adopted with --force as previous. test is left out when verify_listener is
// off. promote keeps the replaced key as previous for the overlap (the policy's, or
// --overlap; 0 keeps none) and says when that ends the window of an older previous key
// early. --dry-run does not change the decision, only that nothing is carried out.
//
// # Extending it
//
// A new step is a StepKind, the case in Decide that orders it, its line in Step.String and
// its executor in executors. A new refusal is a RefusalKind with its failure kind
// (RefusalKind.Failure) and, when it fails the run, its error in refusalErrs.
package rotate
