package evidence_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
)

func ExampleVerify() {
	dir, err := os.MkdirTemp("", "evidence")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "evidence.jsonl")

	f, err := evidence.OpenFile(path)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Date(2025, 3, 3, 3, 0, 0, 0, time.UTC)
	for _, target := range []string{"prod-us", "prod-eu", "staging"} {
		_, err := f.Append(context.Background(), evidence.Record{
			RotationID: "01JNQ2Z3X4Y5W6V7U8T9S0R1QA", Target: target, Trigger: evidence.TriggerCronJob,
			Actor: "pod/keyroll-29031980-x7k2p", StartedAt: start, FinishedAt: start.Add(2 * time.Minute),
			Outcome: evidence.OutcomeRotated, NewFingerprint: "sha256:fedcba9876543210",
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	f.Close()

	res, err := evidence.VerifyFile(path)
	fmt.Println(res.Records, err)

	// Someone edits the second record.
	b, _ := os.ReadFile(path)
	tampered := strings.Replace(string(b), `"target":"prod-eu"`, `"target":"prod-ap"`, 1)
	res, err = evidence.Verify(strings.NewReader(tampered))
	var ce *evidence.ChainError
	if errors.As(err, &ce) {
		fmt.Println(res.Records, "intact; broken at line", ce.Line)
	}
	// Output:
	// 3 <nil>
	// 1 intact; broken at line 2
}

func ExampleBuildReport() {
	day := 24 * time.Hour
	start := time.Date(2025, 1, 1, 3, 0, 0, 0, time.UTC)
	rotation := func(at time.Duration, old, new string) evidence.Record {
		t := start.Add(at)
		return evidence.Record{Target: "prod-us", StartedAt: t, FinishedAt: t, Outcome: evidence.OutcomeRotated,
			OldFingerprint: "sha256:" + strings.Repeat(old, 16), NewFingerprint: "sha256:" + strings.Repeat(new, 16),
			OverlapUntil: evidence.Time(t.Add(day)), Steps: []evidence.Step{{Name: "promote", Time: t, Outcome: "ok"}}}
	}
	recs := []evidence.Record{rotation(0, "a", "b"), rotation(30*day, "b", "c"), rotation(130*day, "c", "d")}
	r := evidence.BuildReport(recs, evidence.ReportOptions{MaxAge: 90 * day, Until: start.Add(140 * day)})
	for _, tr := range r.Targets {
		fmt.Println(tr.Target, tr.Verdict(r.MaxAge))
	}
	_ = r.WriteCSV(os.Stdout)
	// Output:
	// prod-us FAIL: over max_age 90d: sha256:cccccccccccccccc (100d)
	// target,time,event,key,detail
	// prod-us,2025-01-01 03:00:00Z,current,sha256:aaaaaaaaaaaaaaaa,promoted before the first record
	// prod-us,2025-01-01 03:00:00Z,promoted,sha256:bbbbbbbbbbbbbbbb,
	// prod-us,2025-01-01 03:00:00Z,entered overlap,sha256:aaaaaaaaaaaaaaaa,accepted until 2025-01-02 03:00:00Z; current for ≥ 0s
	// prod-us,2025-01-31 03:00:00Z,promoted,sha256:cccccccccccccccc,
	// prod-us,2025-01-31 03:00:00Z,entered overlap,sha256:bbbbbbbbbbbbbbbb,accepted until 2025-02-01 03:00:00Z; current for 30d
	// prod-us,2025-05-11 03:00:00Z,promoted,sha256:dddddddddddddddd,
	// prod-us,2025-05-11 03:00:00Z,entered overlap,sha256:cccccccccccccccc,accepted until 2025-05-12 03:00:00Z; current for 100d
	// prod-us,2025-05-21 03:00:00Z,max key age,sha256:cccccccccccccccc,100d
	// prod-us,2025-05-21 03:00:00Z,verdict,,FAIL: over max_age 90d: sha256:cccccccccccccccc (100d)
}
