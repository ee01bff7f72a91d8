package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// runbookBase is where every alert's runbook_url points: a section of the README.
const runbookBase = "https://github.com/keyroll/keyroll/blob/main/README.md#"

// immediateAlerts may page without a for: clause, each for the reason given.
var immediateAlerts = map[string]string{
	"KeyrollNeedsHuman": "the last run's exit code 3, which nothing retries",
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	h := strings.ToLower(strings.TrimSpace(heading))
	h = regexp.MustCompile("[^a-z0-9 _-]").ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

// TestAlertsHaveRunbooks: every alert links to its own section of the README, which
// exists, and waits (for:) unless it is listed in immediateAlerts.
func TestAlertsHaveRunbooks(t *testing.T) {
	var rf ruleFile
	readYAML(t, "deploy/prometheus/keyroll-rules.yaml", &rf)
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(readme), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			want := runbookBase + strings.ToLower(r.Alert)
			if got := r.Annotations["runbook_url"]; got != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, want)
			}
			if !anchors[strings.ToLower(r.Alert)] {
				t.Errorf("%s: README.md has no section %q for its runbook_url", r.Alert, r.Alert)
			}
			if _, ok := immediateAlerts[r.Alert]; r.For == "" && !ok {
				t.Errorf("%s has no for: one scrape would page", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts found")
	}
}

// TestEveryAlertHasFiringAndSilentCases: keyroll-rules_test.yaml has, for every alert, a
// case where it fires and one where it stays silent.
func TestEveryAlertHasFiringAndSilentCases(t *testing.T) {
	var rf ruleFile
	readYAML(t, "deploy/prometheus/keyroll-rules.yaml", &rf)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "deploy/prometheus/keyroll-rules_test.yaml", &tests)
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && (!fires[r.Alert] || !silent[r.Alert]) {
				t.Errorf("%s: keyroll-rules_test.yaml needs a case where it fires (%v) and one where it stays silent (%v)", r.Alert, fires[r.Alert], silent[r.Alert])
			}
		}
	}
}

// dashboardQuery is one PromQL expression of the Grafana dashboard and where it is.
type dashboardQuery struct{ where, expr string }

// dashboardQueries returns every PromQL expression of the dashboard: each panel's
// targets (rows' nested panels included) and the metric selector of each templating
// query's label_values(...).
func dashboardQueries(t *testing.T, b []byte) []dashboardQuery {
	t.Helper()
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []dashboardQuery
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				out = append(out, dashboardQuery{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		sel := labelValues.FindStringSubmatch(q)
		if sel == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q)
			continue
		}
		out = append(out, dashboardQuery{"variable " + v.Name, sel[1]})
	}
	return out
}

// grafanaVars replaces Grafana's variables with values of the type PromQL expects there.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$target", "prod-us")

// TestDashboardQueriesParse: every PromQL expression of the Grafana dashboard parses, as
// promtool (Prometheus' own parser) reads it; each becomes a recording rule of a
// temporary rule file for `promtool check rules`. Every keyroll metric it reads exists.
func TestDashboardQueriesParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "keyroll-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	qs := dashboardQueries(t, b)
	if len(qs) < 10 {
		t.Fatalf("found %d queries; the dashboard has more", len(qs))
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, q := range qs {
		if strings.Contains(grafanaVars.Replace(q.expr), "$") {
			t.Errorf("%s: a Grafana variable the test does not know: %s", q.where, q.expr)
		}
		rules = append(rules, rule{fmt.Sprintf("dashboard:query_%d", i), grafanaVars.Replace(q.expr)})
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	promtool := promtoolBin(t)
	if msg, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		// Name the panels of the rules promtool complains about.
		for i, q := range qs {
			if strings.Contains(string(msg), fmt.Sprintf("dashboard:query_%d\"", i)) || strings.Contains(string(msg), fmt.Sprintf("query_%d:", i)) {
				t.Errorf("%s: %s", q.where, q.expr)
			}
		}
		t.Fatalf("promtool check rules: %v\n%s", err, msg)
	}

	// The metrics it reads are ones keyroll exports (named in the README's metric tables
	// or the listener's).
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, q := range qs {
		for _, m := range regexp.MustCompile(`keyroll_[a-z_]+`).FindAllString(q.expr, -1) {
			if !strings.Contains(string(readme), m) && !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("the dashboard reads metrics the README does not document: %v", missing)
	}
}

// promtoolBin returns promtool from PATH (scripts/prometheus-tools.sh installs it); without
// it the test is skipped, or fails under CI=true.
func promtoolBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (CI=true: a missing tool fails); scripts/prometheus-tools.sh installs it")
		}
		t.Skip("promtool is not installed; scripts/prometheus-tools.sh installs it")
	}
	return p
}
