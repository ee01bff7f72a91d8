package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOneVersion keeps every place that names keyroll's release on the one VERSION file:
// `make build` stamps it into the binary and `make image` tags the image with it; the chart's
// appVersion, its default image tag and the kustomize manifests' images must follow.
func TestOneVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(version) || string(b) != version+"\n" {
		t.Fatalf("VERSION is %q, want one line vMAJOR.MINOR.PATCH[-PRERELEASE]", b)
	}
	var chart struct {
		AppVersion string `yaml:"appVersion"`
	}
	readYAML(t, "deploy/helm/keyroll/Chart.yaml", &chart)
	if chart.AppVersion != version {
		t.Errorf("deploy/helm/keyroll/Chart.yaml: appVersion %q, want VERSION's %q", chart.AppVersion, version)
	}
	var values struct {
		Image struct {
			Tag string `yaml:"tag"`
		} `yaml:"image"`
	}
	readYAML(t, "deploy/helm/keyroll/values.yaml", &values)
	if tag := values.Image.Tag; tag != "" && tag != version {
		t.Errorf("deploy/helm/keyroll/values.yaml: image.tag %q, want VERSION's %q (or empty: the appVersion)", tag, version)
	}
	for _, f := range []string{"deploy/kubernetes/cronjob.yaml", "deploy/kubernetes/listener/deployment.yaml"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`image: \S*/keyroll:(\S+)`).FindAllSubmatch(b, -1) {
			if string(m[1]) != version {
				t.Errorf("%s: image tag %s, want VERSION's %s", f, m[1], version)
			}
		}
	}
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
