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

	"github.com/keyroll/keyroll/evidence"
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
