package manifesttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../helm/keyroll"

// testDigest is an image digest in the form the chart accepts.
const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// chartOption is one way to install the chart: its --set values and the objects it renders.
type chartOption struct {
	name string
	set  []string
	want []string // apiVersion/kind of every rendered object, in order
}

// chartOptions are the default values and each option of the chart.
var chartOptions = []chartOption{
	{"default", nil, []string{"v1/ServiceAccount", "v1/ConfigMap", "v1/PersistentVolumeClaim", "batch/v1/CronJob"}},
	{"schedule deployment", []string{"mode=schedule"},
		[]string{"v1/ServiceAccount", "v1/ConfigMap", "v1/PersistentVolumeClaim", "v1/Service", "apps/v1/Deployment"}},
	{"image digest", []string{"image.digest=" + testDigest},
		[]string{"v1/ServiceAccount", "v1/ConfigMap", "v1/PersistentVolumeClaim", "batch/v1/CronJob"}},
	{"listener sidecar", []string{"listenerSidecar.enabled=true"},
		[]string{"v1/ServiceAccount", "v1/ServiceAccount", "v1/ConfigMap", "v1/ConfigMap", "v1/PersistentVolumeClaim", "batch/v1/CronJob"}},
	{"prometheus rule", []string{"prometheusRule.enabled=true"},
		[]string{"v1/ServiceAccount", "v1/ConfigMap", "v1/PersistentVolumeClaim", "batch/v1/CronJob", "monitoring.coreos.com/v1/PrometheusRule"}},
	{"service monitor", []string{"mode=schedule", "serviceMonitor.enabled=true"},
		[]string{"v1/ServiceAccount", "v1/ConfigMap", "v1/PersistentVolumeClaim", "v1/Service", "apps/v1/Deployment", "monitoring.coreos.com/v1/ServiceMonitor"}},
}

// objectTypes are the Go types rendered objects are strictly decoded into.
var objectTypes = map[string]func() any{
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/PersistentVolumeClaim":                func() any { return new(corev1.PersistentVolumeClaim) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"batch/v1/CronJob":                        func() any { return new(batchv1.CronJob) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

// rendered is one object of a rendering: its apiVersion/kind, YAML and decoded value.
type rendered struct {
	Kind string
	YAML []byte
	Obj  any
}

// helmBin returns the helm binary from KEYROLL_HELM_BIN (scripts/tool-bin.sh helm). Without
// it the test is skipped, or fails under CI=true.
func helmBin(t *testing.T) string {
	t.Helper()
	return binFromEnv(t, "KEYROLL_HELM_BIN", "scripts/tool-bin.sh helm")
}

// binFromEnv returns the executable named by the environment variable env; when it is unset
// the test fails under CI=true and is skipped otherwise.
func binFromEnv(t *testing.T, env, how string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (CI=true: a missing tool fails); make test sets it with %s", env, how)
		}
		t.Skipf("%s is not set; make test sets it with %s", env, how)
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s=%s: %v", env, bin, err)
	}
	return bin
}

func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %v: %s%s", strings.Join(args, " "), err, stderr.Bytes(), out)
	}
	return out, nil
}

func setArgs(set []string) []string {
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// renderChart runs helm template for release "keyroll" in namespace "keyroll" and decodes
// every object strictly.
func renderChart(t *testing.T, set ...string) []rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", "keyroll", chartDir, "--namespace", "keyroll"}, setArgs(set)...)...)
	if err != nil {
		t.Fatal(err)
	}
	var objs []rendered
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("rendered document: %v\n%s", err, doc)
		}
		if tm.Kind == "" {
			continue // comments only
		}
		kind := tm.APIVersion + "/" + tm.Kind
		newObj, ok := objectTypes[kind]
		if !ok {
			t.Fatalf("rendered an unexpected %s", kind)
		}
		obj := newObj()
		if err := decodeStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, doc)
		}
		objs = append(objs, rendered{Kind: kind, YAML: []byte(doc), Obj: obj})
	}
	return objs
}

func TestChartLintAndRender(t *testing.T) {
	for _, o := range chartOptions {
		t.Run(o.name, func(t *testing.T) {
			if _, err := helm(t, append([]string{"lint", "--strict", chartDir}, setArgs(o.set)...)...); err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range renderChart(t, o.set...) {
				kinds = append(kinds, r.Kind)
				m, ok := r.Obj.(interface{ GetNamespace() string })
				if !ok || m.GetNamespace() != "keyroll" {
					t.Errorf("%s is not in the release namespace", r.Kind)
				}
			}
			if !slices.Equal(kinds, o.want) {
				t.Errorf("rendered %v, want %v", kinds, o.want)
			}
		})
	}
}

// TestChartRefusesBadValues: values the chart cannot render correctly fail helm template
// with a message naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	tests := []struct {
		set  []string
		want string
	}{
		{[]string{"image.digest=sha256:abc"}, "image.digest"},
		{[]string{"image.digest=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, "image.digest"},
		{[]string{"mode=daemon"}, "mode: want cronjob or schedule"},
		{[]string{"serviceMonitor.enabled=true"}, "serviceMonitor.enabled needs mode: schedule"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.set, ","), func(t *testing.T) {
			_, err := helm(t, append([]string{"template", "keyroll", chartDir}, setArgs(tt.set)...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func find[T any](t *testing.T, objs []rendered) *T {
	t.Helper()
	for _, r := range objs {
		if o, ok := r.Obj.(*T); ok {
			return o
		}
	}
	t.Fatalf("no %T rendered", new(T))
	return nil
}

func TestChartImageDigest(t *testing.T) {
	cj := find[batchv1.CronJob](t, renderChart(t, "image.digest="+testDigest))
	if got, want := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image, "registry.example.internal/keyroll@"+testDigest; got != want {
		t.Errorf("image %q, want %q", got, want)
	}
}

// TestChartScheduleValue: the one schedule value feeds the CronJob and the config of both
// modes.
func TestChartScheduleValue(t *testing.T) {
	for _, mode := range []string{"cronjob", "schedule"} {
		objs := renderChart(t, "mode="+mode, "schedule=15 4 * * 2", "timeZone=Europe/Berlin")
		cm := find[corev1.ConfigMap](t, objs)
		if want := `schedule: "CRON_TZ=Europe/Berlin 15 4 * * 2"`; !strings.Contains(cm.Data["config.yaml"], want) {
			t.Errorf("mode %s: config.yaml lacks %s:\n%s", mode, want, cm.Data["config.yaml"])
		}
		if mode == "cronjob" {
			cj := find[batchv1.CronJob](t, objs)
			if cj.Spec.Schedule != "15 4 * * 2" || cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Europe/Berlin" {
				t.Errorf("CronJob schedule %q timeZone %v", cj.Spec.Schedule, cj.Spec.TimeZone)
			}
		}
	}
}

// withoutHelmLabels drops the labels only a Helm release has.
func withoutHelmLabels(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		switch k {
		case "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart":
		default:
			out[k] = v
		}
	}
	return out
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	if !bytes.Equal(g, w) {
		t.Errorf("%s: the chart's default differs from deploy/kubernetes\nchart:\n%s\ndeploy/kubernetes:\n%s", what, g, w)
	}
}

// TestChartDefaultAgreesWithKustomize: with default values the chart renders the objects of
// deploy/kubernetes, apart from the Helm release labels (and the chart keeps the evidence
// volume on uninstall).
func TestChartDefaultAgreesWithKustomize(t *testing.T) {
	objs := renderChart(t)

	cj := find[batchv1.CronJob](t, objs)
	want := load[batchv1.CronJob](t, "cronjob.yaml")
	for _, m := range []*map[string]string{&cj.Labels, &cj.Spec.JobTemplate.Labels, &cj.Spec.JobTemplate.Spec.Template.Labels} {
		*m = withoutHelmLabels(*m)
	}
	sameJSON(t, "CronJob", cj, want)

	sa := find[corev1.ServiceAccount](t, objs)
	sa.Labels = withoutHelmLabels(sa.Labels)
	sameJSON(t, "ServiceAccount", sa, load[corev1.ServiceAccount](t, "serviceaccount.yaml"))

	pvc := find[corev1.PersistentVolumeClaim](t, objs)
	pvc.Labels = withoutHelmLabels(pvc.Labels)
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the evidence PVC is not kept on uninstall")
	}
	pvc.Annotations = nil
	sameJSON(t, "PersistentVolumeClaim", pvc, load[corev1.PersistentVolumeClaim](t, "pvc.yaml"))

	// The config: the same settings (comments and layout aside).
	cm := find[corev1.ConfigMap](t, objs)
	wantCM := load[corev1.ConfigMap](t, "configmap.yaml")
	var got, wantCfg any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(wantCM.Data["config.yaml"]), &wantCfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantCfg) {
		sameJSON(t, "config.yaml", got, wantCfg)
	}
	cm.Labels, cm.Data, wantCM.Data = withoutHelmLabels(cm.Labels), nil, nil
	sameJSON(t, "ConfigMap", cm, wantCM)
}

// TestChartRulesAreDeployPrometheusRules keeps the chart's copy of the Prometheus rules
// identical to deploy/prometheus's.
func TestChartRulesAreDeployPrometheusRules(t *testing.T) {
	src := "../../prometheus/keyroll-rules.yaml"
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir, "files", "keyroll-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s/files/keyroll-rules.yaml differs from %s: copy it", chartDir, src)
	}
	pr := find[monitoringv1.PrometheusRule](t, renderChart(t, "prometheusRule.enabled=true"))
	if len(pr.Spec.Groups) == 0 {
		t.Error("the PrometheusRule has no rule groups")
	}
}
