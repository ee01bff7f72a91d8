package manifesttest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
)

// The chart README's values table sits between these markers; TestChartREADMEValues
// generates it from values.yaml.
const (
	valuesBegin = "<!-- values:begin (generated from values.yaml by TestChartREADMEValues; KEYROLL_UPDATE=1 rewrites it) -->"
	valuesEnd   = "<!-- values:end -->"
)

// valueDoc is one documented value: its path, default and description.
type valueDoc struct{ path, def, desc string }

// docComment returns the "# -- " description of a key's head comment ("" when none).
func docComment(c string) string {
	i := strings.LastIndex(c, "# -- ")
	if i < 0 {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(c[i+len("# -- "):], "\n") {
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#")))
	}
	return strings.Join(lines, " ")
}

// collectValueDocs walks a values mapping: a key with a "# -- " comment is one row (with
// its whole subtree as the default); a mapping without one is walked into; any other key
// without one is an undocumented value.
func collectValueDocs(t *testing.T, n *yaml3.Node, prefix string, out *[]valueDoc) {
	t.Helper()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := prefix + k.Value
		desc := docComment(k.HeadComment)
		switch {
		case desc != "":
			*out = append(*out, valueDoc{path, defaultOf(t, v), desc})
		case v.Kind == yaml3.MappingNode && len(v.Content) > 0:
			collectValueDocs(t, v, path+".", out)
		default:
			t.Errorf("values.yaml: %s has no \"# -- \" description", path)
		}
	}
}

// defaultOf renders a value node as the table shows it: a scalar as written, anything
// else as compact JSON.
func defaultOf(t *testing.T, v *yaml3.Node) string {
	t.Helper()
	if v.Kind == yaml3.ScalarNode {
		if v.Tag == "!!str" {
			return fmt.Sprintf("%q", v.Value)
		}
		return v.Value
	}
	var x any
	if err := v.Decode(&x); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// valuesTable is the Markdown table of every value of values.yaml.
func valuesTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml3.Node
	if err := yaml3.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var docs []valueDoc
	collectValueDocs(t, doc.Content[0], "", &docs)
	var s strings.Builder
	s.WriteString("| value | default | description |\n|---|---|---|\n")
	cell := func(x string) string { return strings.ReplaceAll(x, "|", `\|`) }
	for _, d := range docs {
		fmt.Fprintf(&s, "| `%s` | `%s` | %s |\n", d.path, cell(d.def), cell(d.desc))
	}
	return s.String()
}

// TestChartREADMEValues: the chart README's values table is the one values.yaml's
// "# -- " comments generate, and every value has one. KEYROLL_UPDATE=1 rewrites it.
func TestChartREADMEValues(t *testing.T) {
	path := filepath.Join(chartDir, "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, valuesBegin), strings.Index(readme, valuesEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", path, valuesBegin, valuesEnd)
	}
	want := valuesTable(t)
	got := readme[i+len(valuesBegin)+1 : j]
	if got == want {
		return
	}
	if os.Getenv("KEYROLL_UPDATE") == "1" {
		updated := readme[:i+len(valuesBegin)+1] + want + readme[j:]
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the values table of %s", path)
		return
	}
	t.Errorf("%s's values table differs from values.yaml: run KEYROLL_UPDATE=1 go test -run TestChartREADMEValues ./... in deploy/kubernetes/manifesttest. Want:\n%s", path, want)
}
