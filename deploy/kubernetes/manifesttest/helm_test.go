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
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../helm/keyroll"

// testDigest is an image digest in the form the chart accepts.
const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// chartOption is one way to install the chart: its --set values, a values file, and the
// objects it renders.
type chartOption struct {
	name   string
	set    []string
	values string   // a values file's content ("": none)
	want   []string // apiVersion/kind of every rendered object, in order
}

const (
	np   = "networking.k8s.io/v1/NetworkPolicy"
	sa   = "v1/ServiceAccount"
	cm   = "v1/ConfigMap"
	pvc  = "v1/PersistentVolumeClaim"
	cron = "batch/v1/CronJob"
)

// everyKnob sets every operator knob of the chart at once.
const everyKnob = `
nameOverride: rotator
imagePullSecrets: [{name: registry-pull}]
serviceAccount: {annotations: {example.com/owner: platform}}
podAnnotations: {example.com/team: security}
podLabels: {example.com/cost-center: "42"}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}]}]
priorityClassName: keyroll-test
extraEnv: [{name: VAULT_CACERT, value: /etc/vault-ca/ca.crt}]
extraVolumes: [{name: vault-ca, configMap: {name: vault-ca}}]
extraVolumeMounts: [{name: vault-ca, mountPath: /etc/vault-ca, readOnly: true}]
resources: {requests: {cpu: 20m, memory: 96Mi}, limits: {memory: 96Mi}}
podSecurityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
securityContext: {runAsNonRoot: true, runAsUser: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}
vault: {kvMount: kv, auth: {mount: k8s-prod, kubernetes: {role: rotator, audience: vault-prod, tokenExpirationSeconds: 1800}}}
digicert: {url: https://certcentral.digicert.eu/services/v2, timeout: 10s}
rotation: {secretLength: 64, overlap: 12h, propagationDelay: 5m, minInterval: 12h, maxAge: 30d, verifyListener: false, stuckAfter: 2h}
targets:
  - {name: prod-eu, vault_path: keyroll/digicert/prod-eu, webhook_id: 7, certcentral: {api_key_env: DIGICERT_EU_API_KEY}}
listener: {refresh: 15s, maxStaleness: 60s}
evidence: {size: 1Gi, storageClassName: fast, signing: {transitMount: transit-audit, key: audit}, anchor: keyroll/audit/head, timestamp: {url: "http://timestamp.digicert.com"}}
metrics: {pushgateway: "http://prometheus-pushgateway.monitoring.svc:9091", insecureHTTP: true}
notify:
  - {urlSecret: {name: keyroll-slack, key: url}, format: slack, events: [failed, needs_human, recovered]}
  - {url: "https://hooks.internal.example/keyroll", format: json, events: [rotated]}
networkPolicy:
  vault: {to: [{ipBlock: {cidr: 10.20.0.0/16}}], ports: [{port: 443, protocol: TCP}]}
  extraEgress: [{to: [{ipBlock: {cidr: 203.0.113.0/24}}], ports: [{port: 443, protocol: TCP}]}]
listenerSidecar: {enabled: true, resources: {requests: {cpu: 5m, memory: 16Mi}, limits: {memory: 48Mi}}}
`

// apiKeyRotated rotates the API key beside the webhook: an api_key target whose document
// the webhook target reads its key from, with the listener sidecar on.
const apiKeyRotated = `
digicert: {apiKeyVault: {path: keyroll/digicert/api-key, field: current}}
targets:
  - {name: prod-us, vault_path: keyroll/digicert/prod-us}
  - {name: digicert-api-key, kind: api_key, vault_path: keyroll/digicert/api-key, api_key: {key_id: 184, max_age: 30d, min_interval: 7d, overlap: 12h, grace: 15m, in_use: revoke}}
listenerSidecar: {enabled: true}
`

// signedPushNotify is the install the README shows: signing, anchor, Pushgateway and notify.
const signedPushNotify = `
metrics: {pushgateway: "http://prometheus-pushgateway.monitoring.svc:9091", insecureHTTP: true}
notify:
  - {urlSecret: {name: keyroll-slack, key: url}, format: slack, events: [failed, needs_human, recovered]}
prometheusRule: {enabled: true}
`

// chartOptions are the default values and each option of the chart.
var chartOptions = []chartOption{
	{"default", nil, "", []string{np, sa, cm, pvc, cron}},
	{"schedule deployment", []string{"mode=schedule"}, "",
		[]string{np, sa, cm, pvc, "v1/Service", "apps/v1/Deployment"}},
	{"image digest", []string{"image.digest=" + testDigest}, "", []string{np, sa, cm, pvc, cron}},
	{"listener sidecar", []string{"listenerSidecar.enabled=true"}, "",
		[]string{np, np, sa, sa, cm, cm, pvc, cron}},
	{"prometheus rule", []string{"prometheusRule.enabled=true", "metrics.pushgateway=https://pushgateway:9091"}, "",
		[]string{np, sa, cm, pvc, cron, "monitoring.coreos.com/v1/PrometheusRule"}},
	{"service monitor", []string{"mode=schedule", "serviceMonitor.enabled=true", "prometheusRule.enabled=true"}, "",
		[]string{np, sa, cm, pvc, "v1/Service", "apps/v1/Deployment", "monitoring.coreos.com/v1/PrometheusRule", "monitoring.coreos.com/v1/ServiceMonitor"}},
	{"grafana dashboard", []string{"grafanaDashboard.enabled=true"}, "", []string{np, sa, cm, cm, pvc, cron}},
	{"signing anchor pushgateway notify", nil, signedPushNotify, []string{np, sa, cm, pvc, cron, "monitoring.coreos.com/v1/PrometheusRule"}},
	{"every knob", nil, everyKnob, []string{np, np, sa, sa, cm, cm, pvc, cron}},
	{"token auth", []string{"vault.auth.method=token", "vault.auth.token.secretName=keyroll-vault-token"}, "", []string{np, sa, cm, pvc, cron}},
	{"token file auth", []string{"vault.auth.method=token", "vault.auth.token.file=/vault/secrets/token"}, "", []string{np, sa, cm, pvc, cron}},
	{"approle auth", []string{"vault.auth.method=approle", "vault.auth.mount=approle", "vault.auth.approle.roleID=5f3c0a8e-role", "vault.auth.approle.secretIDSecretName=keyroll-approle"}, "",
		[]string{np, sa, cm, pvc, cron}},
	{"API key from Vault", []string{"digicert.apiKeyVault.path=keyroll-job/digicert-api-key", "digicert.apiKeyVault.field=key"}, "", []string{np, sa, cm, pvc, cron}},
	{"API key rotated", nil, apiKeyRotated, []string{np, np, sa, sa, cm, cm, pvc, cron}},
	{"existing service account", []string{"serviceAccount.create=false", "serviceAccount.name=default"}, "", []string{np, cm, pvc, cron}},
	{"fullname override", []string{"fullnameOverride=rotation"}, "", []string{np, sa, cm, pvc, cron}},
	{"existing evidence claim", []string{"evidence.existingClaim=audit-evidence"}, "", []string{np, sa, cm, cron}},
	{"evidence off", []string{"evidence.file=", "evidence.signing.enabled=false", "evidence.anchor="}, "", []string{np, sa, cm, cron}},
	{"network policy off", []string{"networkPolicy.enabled=false"}, "", []string{sa, cm, pvc, cron}},
	{"insecure http", []string{"vault.address=http://vault.vault.svc:8200", "vault.insecureHTTP=true"}, "", []string{np, sa, cm, pvc, cron}},
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
	np: func() any { return new(networkingv1.NetworkPolicy) },
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
	return helmEnv(t, nil, args...)
}

// helmEnv runs helm with the extra environment env (e.g. KUBECONFIG).
func helmEnv(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
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

// valuesArgs returns the helm arguments of o's values: -f FILE for its values file, then
// --set for each of its set values.
func valuesArgs(t *testing.T, o chartOption) []string {
	t.Helper()
	var args []string
	if o.values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(o.values), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", f)
	}
	return append(args, setArgs(o.set)...)
}

// renderOption renders the chart with o's values.
func renderOption(t *testing.T, o chartOption) []rendered {
	t.Helper()
	return renderArgs(t, valuesArgs(t, o))
}

// renderChart runs helm template for release "keyroll" in namespace "keyroll" and decodes
// every object strictly.
func renderChart(t *testing.T, set ...string) []rendered {
	t.Helper()
	return renderArgs(t, setArgs(set))
}

// renderArgs runs helm template with the values arguments args and decodes every object
// strictly.
func renderArgs(t *testing.T, args []string) []rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", "keyroll", chartDir, "--namespace", "keyroll"}, args...)...)
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
			if _, err := helm(t, append([]string{"lint", "--strict", chartDir}, valuesArgs(t, o)...)...); err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range renderOption(t, o) {
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
		{[]string{"image.digest=sha256:abc"}, "/image/digest"},
		{[]string{"image.digest=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, "/image/digest"},
		{[]string{"mode=daemon"}, "/mode"},
		{[]string{"serviceMonitor.enabled=true"}, "serviceMonitor.enabled needs mode: schedule"},
		{[]string{"prometheusRule.enabled=true"}, "prometheusRule.enabled in mode cronjob needs metrics.pushgateway"},
		{[]string{"evidence.file="}, "evidence.signing.enabled and evidence.anchor need evidence.file"},
		{[]string{"vault.auth.method=token"}, "vault.auth.method token needs vault.auth.token.secretName"},
		{[]string{"vault.auth.method=approle", "vault.auth.approle.roleID=r"}, "vault.auth.method approle needs"},
		{[]string{"vault.auth.method=userpass"}, "/vault/auth/method"},
		{[]string{"notify[0].format=slack", "notify[0].events[0]=failed"}, "/notify/0"},
		{[]string{"notify[0].url=https://hooks.example/x", "notify[0].format=teams", "notify[0].events[0]=failed"}, "/notify/0/format"},
		{[]string{"rotation.maxAge=90 days"}, "/rotation/maxAge"},
		{[]string{"metrics.pushgateway=pushgateway:9091"}, "/metrics/pushgateway"},
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

	pol := find[networkingv1.NetworkPolicy](t, objs)
	pol.Labels = withoutHelmLabels(pol.Labels)
	delete(pol.Spec.PodSelector.MatchLabels, "app.kubernetes.io/instance")
	// The kustomize base allows the Pushgateway too (its address is the cluster's); the
	// chart only once metrics.pushgateway is set.
	wantPol := load[networkingv1.NetworkPolicy](t, "networkpolicy.yaml")
	wantPol.Spec.Egress = wantPol.Spec.Egress[:len(wantPol.Spec.Egress)-1]
	sameJSON(t, "NetworkPolicy", pol, wantPol)
	withGateway := find[networkingv1.NetworkPolicy](t, renderChart(t, "metrics.pushgateway=http://prometheus-pushgateway.monitoring.svc:9091"))
	full := load[networkingv1.NetworkPolicy](t, "networkpolicy.yaml")
	sameJSON(t, "NetworkPolicy egress with a Pushgateway", withGateway.Spec.Egress, full.Spec.Egress)

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
	// Every group, except the absent() alert of the other mode.
	for mode, want := range map[string]string{
		"cronjob":  "[keyroll.rules keyroll.alerts keyroll.pushgateway]",
		"schedule": "[keyroll.rules keyroll.alerts keyroll.scheduler]",
	} {
		pr := find[monitoringv1.PrometheusRule](t, renderChart(t, "prometheusRule.enabled=true", "mode="+mode, "metrics.pushgateway=https://pushgateway:9091"))
		var names []string
		for _, g := range pr.Spec.Groups {
			names = append(names, g.Name)
			if len(g.Rules) == 0 {
				t.Errorf("group %s is empty", g.Name)
			}
		}
		if fmt.Sprint(names) != want {
			t.Errorf("mode %s: groups %v, want %s", mode, names, want)
		}
	}

	dash, err := os.ReadFile("../../grafana/keyroll-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(chartDir, "files", "keyroll-dashboard.json")); err != nil || !bytes.Equal(got, dash) {
		t.Errorf("%s/files/keyroll-dashboard.json differs from deploy/grafana/keyroll-dashboard.json (%v): copy it", chartDir, err)
	}
	for _, r := range renderChart(t, "grafanaDashboard.enabled=true") {
		if c, ok := r.Obj.(*corev1.ConfigMap); ok && strings.HasSuffix(c.Name, "-dashboard") {
			if c.Labels["grafana_dashboard"] != "1" || c.Data["keyroll-dashboard.json"] != string(dash) {
				t.Errorf("the dashboard ConfigMap: labels %v, the JSON differs: %v", c.Labels, c.Data["keyroll-dashboard.json"] != string(dash))
			}
		}
	}
}
