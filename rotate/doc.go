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
// decision (Decision.Lines), completed by Plan: the metadata writes after the stage and
// the promote, and the destroy of the versions that hold retired keys, with their numbers.
// The executor carries out the plan and nothing else (TestPlanWalk runs every row below
// through it).
//
// The checks, in order (first match wins): the webhook not active (refuse: needs a
// human); the document bound to another webhook or host, no --force (refuse: needs a
// human; --force rebinds); DigiCert's key neither current nor pending (read again, then
// drift, needing a human; --force adopts it as previous); a staged document (resume:
// [adopt,] wait, [test,] push, verify, promote, or only verify and promote when DigiCert
// has the staged key); a retire-only run (the scheduler's at a window's end: retire an
// expired previous key, nothing else); an idle document promoted less than min_interval
// ago, no --force (skip: not due, retiring an expired previous key); the previous key's
// overlap window still open, no --force (skip: in overlap); otherwise stage, wait, [test,]
// push, verify, promote.
//
// The table, every row of the table test (C current, P pending, O previous, L DigiCert's
// key before any document, X a key unknown to the document; "new" the key this run
// mints; a rotation's "wait(2m0s) test push verify" is that of the table's policy):
//
//	(table: generated from decisionTable by `go test ./rotate -run TestDocTable -update`)
//	none, live key                                           stage(cas=0,current=L) wait(2m0s) test push verify promote(new,previous=L/24h0m0s)
//	none, live key, --dry-run                                stage(cas=0,current=L) wait(2m0s) test push verify promote(new,previous=L/24h0m0s)
//	none, secret hidden                                      stage(cas=0) wait(2m0s) test push verify promote(new,previous=none)
//	none, no secret                                          stage(cas=0) wait(2m0s) test push verify promote(new,previous=none)
//	none, inactive                                           refuse:webhook not active(status is "inactive")
//	latest version deleted                                   stage(cas=4,current=L) wait(2m0s) test push verify promote(new,previous=L/24h0m0s)
//	idle, live current                                       stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	idle, live current, --dry-run                            stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	idle, not due                                            refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s)
//	idle, not due, --force                                   stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	idle, not due, --dry-run                                 refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s)
//	idle, --overlap 0                                        stage(cas=3) wait(2m0s) test push verify promote(new,previous=none)
//	idle, --overlap 2h                                       stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/2h0m0s)
//	idle, verify_listener off                                stage(cas=3) wait(2m0s) push verify promote(new,previous=C/24h0m0s)
//	idle, live pending (none staged) reads again             refuse:read again(live sha256:,current sha256:,pending none)
//	idle, live unknown reads again                           refuse:read again(live sha256:,current sha256:,pending none)
//	idle, live unknown twice is drift                        refuse:drift(live sha256:,current sha256:,pending none)
//	idle, live unknown twice, --dry-run                      refuse:drift(live sha256:,current sha256:,pending none)
//	idle, live unknown twice, --force alone is drift         refuse:drift(live sha256:,current sha256:,pending none; --force does not adopt a drifted key: use --adopt-drift)
//	idle, live unknown twice, --adopt-drift adopts           adopt:X stage(cas=3,previous=X/25h2m0s) wait(2m0s) test push verify promote(new,previous=X/24h0m0s)
//	idle, secret hidden                                      stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	idle, inactive                                           refuse:webhook not active(status is "inactive")
//	previous open, live current                              refuse:in overlap(the previous key sha256: is accepted until 2026-11-26T04:00:00Z; rotating now would drop it early (--force to rotate anyway))
//	previous open, --force                                   stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s,drops=O)
//	previous open, --overlap 0, --force                      stage(cas=3) wait(2m0s) test push verify promote(new,previous=none,drops=O)
//	previous open, not due                                   refuse:not due(last rotation 1m0s ago,min_interval 1h0m0s)
//	previous expired, live current                           stage(cas=3,retire=O) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	previous expired, secret hidden                          stage(cas=3,retire=O) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	previous expired, not due                                refuse:not due(last rotation 1m0s ago,min_interval 1h0m0s) retire(cas=3,O)
//	previous expired, retire only                            refuse:not due(a run to retire keys,not to rotate) retire(cas=3,O)
//	previous open, retire only                               refuse:not due(a run to retire keys,not to rotate)
//	staged, previous expired                                 resume pushed verify(P) promote(P,previous=C/24h0m0s)
//	staged, live current                                     resume wait(2m0s)(P) test(P) push(P) verify(P) promote(P,previous=C/24h0m0s)
//	staged, live current, not due                            resume wait(2m0s)(P) test(P) push(P) verify(P) promote(P,previous=C/24h0m0s)
//	staged, live current, --dry-run                          resume wait(2m0s)(P) test(P) push(P) verify(P) promote(P,previous=C/24h0m0s)
//	staged, live current, --overlap 0                        resume wait(2m0s)(P) test(P) push(P) verify(P) promote(P,previous=none)
//	staged, secret hidden                                    resume wait(2m0s)(P) test(P) push(P) verify(P) promote(P,previous=C/24h0m0s)
//	staged, inactive                                         refuse:webhook not active(status is "inactive")
//	staged, live pending                                     resume pushed verify(P) promote(P,previous=C/24h0m0s)
//	staged, live pending, --force                            resume pushed verify(P) promote(P,previous=C/24h0m0s)
//	staged, live pending, --overlap 0                        resume pushed verify(P) promote(P,previous=none)
//	staged, live unknown reads again                         refuse:read again(live sha256:,current sha256:,pending sha256:)
//	staged, live unknown twice is drift                      refuse:drift(live sha256:,current sha256:,pending sha256:)
//	staged, live unknown twice, --force alone is drift       refuse:drift(live sha256:,current sha256:,pending sha256:; --force does not adopt a drifted key: use --adopt-drift)
//	staged, live unknown twice, --adopt-drift adopts         resume adopt:X adopt(cas=5,previous=X/25h2m0s) wait(2m0s)(P) test(P) push(P) verify(P) promote(P,previous=X/24h0m0s)
//	idle, bound to this webhook                              stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	idle, bound to another webhook                           refuse:bound to another webhook(the document belongs to webhook 8 at www.digicert.com,this run resolves webhook 7 at www.digicert.com (--rebind moves it))
//	idle, bound to another host                              refuse:bound to another webhook(the document belongs to webhook 7 at certcentral.digicert.eu,this run resolves webhook 7 at www.digicert.com (--rebind moves it))
//	idle, bound to another webhook, --force alone            refuse:bound to another webhook(the document belongs to webhook 8 at www.digicert.com,this run resolves webhook 7 at www.digicert.com (--rebind moves it); --force does not rebind: use --rebind)
//	idle, bound to another webhook, --rebind                 rebind:8 stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s)
//	idle, not due, bound to another webhook, --rebind        refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) metadata
//	idle, not due, live unknown twice, --adopt-drift adopts  adopt:X stage(cas=3,previous=X/25h2m0s) wait(2m0s) test push verify promote(new,previous=X/24h0m0s)
//	previous open, live unknown twice, --adopt-drift adopts  adopt:X stage(cas=3,previous=X/25h2m0s) wait(2m0s) test push verify promote(new,previous=X/24h0m0s,drops=O)
//	previous open, not due, --force                          stage(cas=3) wait(2m0s) test push verify promote(new,previous=C/24h0m0s,drops=O)
//	(end of table)
//
// The live key is only compared when DigiCert returns it and the document exists. stage
// writes the live key as current when there is no document yet (the first rotation), and
// a drifted key adopted with --force as previous. test is left out when verify_listener is
// off. promote keeps the replaced key as previous for the overlap (the policy's, or
// --overlap; 0 keeps none) and says when that ends the window of an older previous key
// early. --dry-run does not change the decision, only that nothing is carried out. When
// says when the next of these happens: not due until, the window's end, the retirement.
//
// # Extending it
//
// A new step is a StepKind, the case in Decide that orders it, its line in Step.String and
// its executor in executors. A new refusal is a RefusalKind with its failure kind
// (RefusalKind.Failure) and, when it fails the run, its error in refusalErrs.
package rotate
