package rotate_test

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the decision table in doc.go from the table test")

// The markers around the generated table in doc.go.
const (
	tableBegin = "//\t(table: generated from decisionTable by `go test ./rotate -run TestDocTable -update`)\n"
	tableEnd   = "//\t(end of table)\n"
)

// TestDocTable: the decision table in the package documentation is the table test's,
// row for row, so the documentation cannot drift from what Decide does.
func TestDocTable(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("doc.go has no generated table between %q and %q", tableBegin, tableEnd)
	}
	want := renderTable()
	if got := doc[i+len(tableBegin) : j]; got != want {
		if *update {
			if err := os.WriteFile("doc.go", []byte(doc[:i+len(tableBegin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("doc.go's decision table differs from decisionTable: run go test ./rotate -run TestDocTable -update\n got:\n%s\nwant:\n%s", got, want)
	}
}

// renderTable prints every row of the decision tables, the webhook's then the API key's:
// its name, then describe's (describeKey's) summary of the decision.
func renderTable() string {
	var rows [][2]string
	for _, r := range decisionTable() {
		rows = append(rows, [2]string{r.name, r.want})
	}
	for _, r := range keyTable() {
		rows = append(rows, [2]string{r.name, r.want})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("//\t" + r[0] + strings.Repeat(" ", width-len(r[0])+2) + r[1] + "\n")
	}
	return b.String()
}
