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
// The API-key kind (Target.Keys set) has its own pure decision, DecideAPIKey, of the
// document, its version, the issuer's description of the current key and the list of its
// user's keys, the policy, the options and the time; PlanAPIKey completes it as Plan does
// Decide, and its "api key:" rows follow the webhook's in the table. Its checks, in order:
// no key or no id for it (refuse: needs a human; api_key.key_id adopts the id); the key
// rejected or revoked at the issuer (refuse: needs a human); then every run revokes the
// orphans (active keys named "keyroll <target> …" that the document does not hold, but one
// named like an intent another run may be carrying out); a staged key (resume:
// authenticate, promote); an intent from an earlier run (take it over, revoke the keys
// named by it, create again); an expired previous key (revoke it, or, used after the
// promote plus grace under in_use: hold, record the hold and refuse: needs a human); then
// the webhook's rules about time (retire-only, not due, in overlap: skip); otherwise
// intent, create, stage, authenticate, promote.
//
// The table, every row of the table tests (C current, P pending, O previous, L DigiCert's
// key before any document, X a key unknown to the document; "new" the key this run
// mints; a rotation's "wait(2m0s) test push verify" is that of the table's policy; for an
// API key, keys by id: 100 current, 200 pending, 50 previous, 300 an orphan, 301 a key
// named by the document's intent, user 7, role 101, this run's rotation id r9):
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
//	api key: no document                                     refuse:API key unknown(the document holds no API key: store the key as current (CertCentral → Automation → API Keys))
//	api key: no current_id, no key_id                        refuse:API key unknown(the id of the API key in the document is unknown: set the target's api_key.key_id or current_id in the document (CertCentral → Automation → API Keys))
//	api key: no current_id, key_id adopts                    adopt:100 intent(cas=3,r9) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: current rejected                                refuse:API key rejected(the stored API key no longer authenticates: key 100 (sha256:) refused)
//	api key: current revoked                                 refuse:API key rejected(the stored API key no longer authenticates: key 100 (sha256:) status revoked)
//	api key: idle                                            intent(cas=3,r9) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: idle, --dry-run                                 intent(cas=3,r9) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: idle, orphans                                   revoke-orphan(300) intent(cas=3,r9) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: not due                                         refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s)
//	api key: not due, orphan                                 refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) revoke-orphan(300)
//	api key: not due, --force                                intent(cas=3,r9) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: not due, key_id adopts                          refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) adopt:100 adopt(cas=3,100)
//	api key: previous open                                   refuse:in overlap(the previous API key 50 sha256: is active until 2026-11-26T04:00:00Z; rotating now would revoke it early (--force to rotate anyway))
//	api key: previous open, --force                          revoke(50,--force: its overlap cut short) intent(cas=3,r9,retire=O) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: previous open, retire only                      refuse:not due(a run to retire keys,not to rotate)
//	api key: previous expired                                revoke(50) intent(cas=3,r9,retire=O) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: previous expired, not due                       refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) revoke(50) retire(cas=3,50)
//	api key: previous expired, retire only                   refuse:not due(a run to retire keys,not to rotate) revoke(50) retire(cas=3,50)
//	api key: previous expired, revoked already               refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) retire(cas=3,50)
//	api key: previous in use, hold                           refuse:held(the previous API key 50 (sha256:) was last used 2026-11-26T01:00:00Z,after the promote at 2026-11-24T03:00:00Z plus grace 15m0s: a consumer still holds it (in_use: hold; --revoke-in-use revokes it once)) hold(cas=3,50)
//	api key: previous in use, held already                   refuse:held(the previous API key 50 (sha256:) was last used 2026-11-26T01:00:00Z,after the promote at 2026-11-24T03:00:00Z plus grace 15m0s: a consumer still holds it (in_use: hold; --revoke-in-use revokes it once))
//	api key: previous in use, in_use revoke                  revoke(50,in use,in_use: revoke) intent(cas=3,r9,retire=O) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: previous in use, --revoke-in-use                revoke(50,in use,--revoke-in-use) intent(cas=3,r9,retire=O) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: staged                                          resume authenticate(P) promote(cas=3,P,previous=100/24h0m0s)
//	api key: staged, not due                                 resume authenticate(P) promote(cas=3,P,previous=100/24h0m0s)
//	api key: staged, --overlap 0                             resume authenticate(P) promote(cas=3,P,previous=100/0s)
//	api key: staged, orphan                                  resume revoke-orphan(300) authenticate(P) promote(cas=3,P,previous=100/24h0m0s)
//	api key: staged, pending revoked                         unstage(cas=3,200) intent(cas=4,r9) create(7/101) stage(cas=5) authenticate promote(cas=6,new,previous=100/24h0m0s)
//	api key: staged, pending revoked, not due                refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) unstage(cas=3,200)
//	api key: creating                                        resume intent(cas=3,r8,takeover) revoke-orphan(301) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: creating, other orphan                          resume revoke-orphan(300) intent(cas=3,r8,takeover) revoke-orphan(301) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: creating, not due                               resume intent(cas=3,r8,takeover) revoke-orphan(301) create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)
//	api key: creating, retire only                           refuse:not due(a run to retire keys,not to rotate)
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
