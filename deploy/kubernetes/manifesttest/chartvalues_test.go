package manifesttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// schemaRefusals are values values.schema.json refuses: a wrong type and an unknown key,
// at the top and nested.
var schemaRefusals = []struct {
	name string
	set  []string
	want string
}{
	{"wrong type", []string{"rotation.secretLength=many"}, "at '/rotation/secretLength': got string, want integer"},
	{"wrong type of a knob", []string{"networkPolicy.enabled=maybe"}, "at '/networkPolicy/enabled': got string, want boolean"},
	{"unknown key", []string{"vault.adress=https://vault:8200"}, "additional properties 'adress' not allowed"},
	{"unknown top-level key", []string{"serviceAcount.create=false"}, "additional properties 'serviceAcount' not allowed"},
	{"unknown target kind", []string{"targets[0].kind=password"}, "at '/targets/0/kind'"},
	{"unknown in_use policy", []string{"targets[0].kind=api_key", "targets[0].api_key.in_use=ignore"}, "at '/targets/0/api_key/in_use'"},
	{"bad api key duration", []string{"targets[0].kind=api_key", "targets[0].api_key.max_age=soon"}, "at '/targets/0/api_key/max_age'"},
}

// TestChartSchemaRefusesBadValues: `helm template` and `helm lint` refuse a value of the
// wrong type or an unknown key, naming it. (`helm install` needs a cluster: TestCluster's
// HelmInstall has it refuse the same values on the real API server.)
func TestChartSchemaRefusesBadValues(t *testing.T) {
	for _, tt := range schemaRefusals {
		for _, cmd := range [][]string{
			{"template", "keyroll", chartDir},
			{"lint", "--strict", chartDir},
		} {
			t.Run(tt.name+"/"+cmd[0], func(t *testing.T) {
				_, err := helm(t, append(cmd, setArgs(tt.set)...)...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("got %v, want an error containing %q", err, tt.want)
				}
			})
		}
	}
	// The schema accepts what values.yaml holds (lint --strict checks the defaults
	// against it) and refuses nothing legitimate: every chart option renders.
}

// renderedConfig returns the rotation's config.yaml of a rendering, parsed.
func renderedConfig(t *testing.T, objs []rendered) (string, map[string]any) {
	t.Helper()
	for _, r := range objs {
		if c, ok := r.Obj.(*corev1.ConfigMap); ok && strings.HasSuffix(c.Name, "-config") && !strings.HasSuffix(c.Name, "-listener-config") {
			raw := c.Data["config.yaml"]
			var m map[string]any
			if err := yaml.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("config.yaml: %v\n%s", err, raw)
			}
			return raw, m
		}
	}
	t.Fatal("no config ConfigMap rendered")
	return "", nil
}

// dig returns the value at the dotted path of a parsed YAML document (nil when absent).
func dig(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// TestChartSecureDefaults: the default install writes evidence signed with Transit and
// anchored in Vault, and confines the pod with a NetworkPolicy.
func TestChartSecureDefaults(t *testing.T) {
	objs := renderChart(t)
	_, cfg := renderedConfig(t, objs)
	for path, want := range map[string]any{
		"evidence.file":                  "/var/lib/keyroll/evidence.jsonl",
		"evidence.signing.transit_mount": "transit",
		"evidence.signing.key":           "keyroll-evidence",
		"evidence.anchor":                "keyroll/evidence/head",
		"vault.auth.method":              "kubernetes",
	} {
		if got := dig(cfg, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	pol := find[networkingv1.NetworkPolicy](t, objs)
	if !slices.Equal(pol.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) || len(pol.Spec.Ingress) != 0 {
		t.Errorf("the CronJob's pod must accept nothing: policyTypes %v, ingress %v", pol.Spec.PolicyTypes, pol.Spec.Ingress)
	}
}

// egressPorts returns the ports of each egress rule, as "PROTO/PORT" lists.
func egressPorts(p *networkingv1.NetworkPolicy) [][]string {
	var out [][]string
	for _, r := range p.Spec.Egress {
		var ports []string
		for _, pt := range r.Ports {
			ports = append(ports, fmt.Sprintf("%s/%s", *pt.Protocol, pt.Port.String()))
		}
		out = append(out, ports)
	}
	return out
}

// TestChartNetworkPolicy: the rotation pod may reach DNS, Vault, DigiCert and, when it is
// configured, the Pushgateway, nothing else; the scheduler accepts scrapes on its metrics
// port only; the listener's pods accept on the sidecar's port only. The kustomize base has
// the same policy (TestChartDefaultAgreesWithKustomize).
func TestChartNetworkPolicy(t *testing.T) {
	selects := func(p *networkingv1.NetworkPolicy, labels map[string]string) bool {
		for k, v := range p.Spec.PodSelector.MatchLabels {
			if labels[k] != v {
				return false
			}
		}
		return len(p.Spec.PodSelector.MatchLabels) > 0
	}
	tests := []struct {
		name  string
		set   []string
		ports string // each egress rule's ports
	}{
		{"cronjob", nil, "[[UDP/53 TCP/53] [TCP/8200] [TCP/443]]"},
		{"cronjob with pushgateway", []string{"metrics.pushgateway=http://prometheus-pushgateway.monitoring.svc:9091"}, "[[UDP/53 TCP/53] [TCP/8200] [TCP/443] [TCP/9091]]"},
		{"schedule", []string{"mode=schedule"}, "[[UDP/53 TCP/53] [TCP/8200] [TCP/443]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := renderChart(t, tt.set...)
			p := find[networkingv1.NetworkPolicy](t, objs)
			if got := fmt.Sprint(egressPorts(p)); got != tt.ports {
				t.Errorf("egress ports %s, want %s", got, tt.ports)
			}
			var podLabels map[string]string
			for _, r := range objs {
				switch o := r.Obj.(type) {
				case *batchv1.CronJob:
					podLabels = o.Spec.JobTemplate.Spec.Template.Labels
				case *appsv1.Deployment:
					podLabels = o.Spec.Template.Labels
				}
			}
			if !selects(p, podLabels) {
				t.Errorf("the policy %v does not select the rotation's pods %v", p.Spec.PodSelector.MatchLabels, podLabels)
			}
			wantIngress := 0
			if tt.name == "schedule" {
				wantIngress = 1
				if len(p.Spec.Ingress) != 1 || len(p.Spec.Ingress[0].Ports) != 1 || p.Spec.Ingress[0].Ports[0].Port.IntValue() != 9090 {
					t.Errorf("the scheduler must accept on its metrics port only: %+v", p.Spec.Ingress)
				}
			}
			if len(p.Spec.Ingress) != wantIngress {
				t.Errorf("ingress rules %+v, want %d", p.Spec.Ingress, wantIngress)
			}
		})
	}
	t.Run("listener", func(t *testing.T) {
		var lis *networkingv1.NetworkPolicy
		for _, r := range renderChart(t, "listenerSidecar.enabled=true") {
			if p, ok := r.Obj.(*networkingv1.NetworkPolicy); ok && strings.HasSuffix(p.Name, "-listener") {
				lis = p
			}
		}
		if lis == nil {
			t.Fatal("no listener NetworkPolicy")
		}
		if !slices.Equal(lis.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress"}) || len(lis.Spec.Ingress) != 2 ||
			len(lis.Spec.Ingress[0].Ports) != 1 || lis.Spec.Ingress[0].Ports[0].Port.IntValue() != 8443 ||
			len(lis.Spec.Ingress[1].Ports) != 1 || lis.Spec.Ingress[1].Ports[0].Port.IntValue() != 9090 || len(lis.Spec.Ingress[1].From) == 0 ||
			lis.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "webhook-receiver" {
			t.Errorf("the listener's pods must accept on port 8443, and on the admin port 9090 from the monitoring namespace, only: %+v", lis.Spec)
		}
	})
}

// TestChartConfigChecksum: in mode schedule the pod carries the config's checksum, so a
// configuration change rolls the scheduler; the CronJob needs none (every run reads the
// ConfigMap afresh).
func TestChartConfigChecksum(t *testing.T) {
	sum := func(set ...string) string {
		d := find[appsv1.Deployment](t, renderChart(t, append([]string{"mode=schedule"}, set...)...))
		return d.Spec.Template.Annotations["checksum/config"]
	}
	a, b, c := sum(), sum("rotation.maxAge=30d"), sum("podAnnotations.example\\.com/x=y")
	if len(a) != 64 || a == b {
		t.Errorf("checksum %q, after a config change %q: want a sha256 that changes", a, b)
	}
	if a != c {
		t.Errorf("checksum changed with a pod annotation only: %q, %q", a, c)
	}
	cj := find[batchv1.CronJob](t, renderChart(t))
	if _, ok := cj.Spec.JobTemplate.Spec.Template.Annotations["checksum/config"]; ok {
		t.Error("the CronJob's pod has a config checksum")
	}
}

// TestChartEveryKnob: each operator knob reaches the object it is for.
func TestChartEveryKnob(t *testing.T) {
	var o chartOption
	for _, c := range chartOptions {
		if c.name == "every knob" {
			o = c
		}
	}
	objs := renderOption(t, o)
	cj := find[batchv1.CronJob](t, objs)
	pod := cj.Spec.JobTemplate.Spec.Template
	c := pod.Spec.Containers[0]
	var sa *corev1.ServiceAccount
	for _, r := range objs {
		if s, ok := r.Obj.(*corev1.ServiceAccount); ok && s.Name != "webhook-listener" {
			sa = s
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("want %s", what)
		}
	}
	check("nameOverride in the names and labels", cj.Name == "keyroll-rotator" && cj.Labels["app.kubernetes.io/name"] == "rotator")
	check("serviceAccount.annotations", sa != nil && sa.Annotations["example.com/owner"] == "platform" && pod.Spec.ServiceAccountName == sa.Name)
	check("imagePullSecrets", len(pod.Spec.ImagePullSecrets) == 1 && pod.Spec.ImagePullSecrets[0].Name == "registry-pull")
	check("podAnnotations", pod.Annotations["example.com/team"] == "security")
	check("podLabels", pod.Labels["example.com/cost-center"] == "42" && pod.Labels["app.kubernetes.io/component"] == "rotation")
	check("nodeSelector", pod.Spec.NodeSelector["kubernetes.io/os"] == "linux")
	check("tolerations", len(pod.Spec.Tolerations) == 1 && pod.Spec.Tolerations[0].Key == "dedicated")
	check("affinity", pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil)
	check("priorityClassName", pod.Spec.PriorityClassName == "keyroll-test")
	check("extraEnv VAULT_CACERT", env["VAULT_CACERT"].Value == "/etc/vault-ca/ca.crt")
	check("extraVolumes and extraVolumeMounts (the Vault CA bundle)", vols["vault-ca"].ConfigMap != nil && mounts["vault-ca"] == "/etc/vault-ca")
	check("resources", c.Resources.Limits.Memory().String() == "96Mi")
	check("podSecurityContext", pod.Spec.SecurityContext.RunAsUser != nil && *pod.Spec.SecurityContext.RunAsUser == 10001)
	check("securityContext", c.SecurityContext.RunAsUser != nil && *c.SecurityContext.RunAsUser == 10001)
	check("the notify URL from its Secret", env["KEYROLL_NOTIFY_0_URL"].ValueFrom != nil && env["KEYROLL_NOTIFY_0_URL"].ValueFrom.SecretKeyRef.Name == "keyroll-slack")
	check("the audience and lifetime of the projected token",
		vols["vault-token"].Projected != nil && vols["vault-token"].Projected.Sources[0].ServiceAccountToken.Audience == "vault-prod" &&
			*vols["vault-token"].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds == 1800)

	raw, cfg := renderedConfig(t, objs)
	for path, want := range map[string]any{
		"vault.kv_mount": "kv", "vault.auth.mount": "k8s-prod", "vault.auth.role": "rotator",
		"certcentral.url": "https://certcentral.digicert.eu/services/v2", "certcentral.timeout": "10s",
		"rotation.secret_length": float64(64), "rotation.overlap": "12h", "rotation.propagation_delay": "5m",
		"rotation.min_interval": "12h", "rotation.max_age": "30d", "rotation.verify_listener": false, "rotation.stuck_after": "2h",
		"listener.refresh": "15s", "listener.max_staleness": "60s",
		"evidence.signing.transit_mount": "transit-audit", "evidence.signing.key": "audit", "evidence.anchor": "keyroll/audit/head", "evidence.timestamp.url": "http://timestamp.digicert.com",
		"metrics.pushgateway": "http://prometheus-pushgateway.monitoring.svc:9091", "metrics.insecure_http": true,
	} {
		if got := dig(cfg, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("config %s = %v, want %v", path, got, want)
		}
	}
	for _, want := range []string{`url: "${KEYROLL_NOTIFY_0_URL}"`, `url: "https://hooks.internal.example/keyroll"`, "api_key_env: DIGICERT_EU_API_KEY", "webhook_id: 7"} {
		if !strings.Contains(raw, want) {
			t.Errorf("config.yaml lacks %s:\n%s", want, raw)
		}
	}
	for _, r := range objs {
		if cmap, ok := r.Obj.(*corev1.ConfigMap); ok && strings.HasSuffix(cmap.Name, "-listener-config") {
			if !strings.Contains(cmap.Data["config.yaml"], "max_staleness: 60s") {
				t.Errorf("the listener's config lacks listener.max_staleness:\n%s", cmap.Data["config.yaml"])
			}
		}
	}
}

// TestChartConfigsAreValid: the config.yaml of every chart option is one keyroll accepts:
// `keyroll policy job` loads and validates it (unknown keys, types, every rule of the
// configuration) without Vault. The default's policy grants the evidence signing and
// anchor.
func TestChartConfigsAreValid(t *testing.T) {
	bin, err := keyrollBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range chartOptions {
		t.Run(o.name, func(t *testing.T) {
			raw, _ := renderedConfig(t, renderOption(t, o))
			f := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(f, []byte(raw), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "policy", "--config", f, "job")
			cmd.Env = cleanEnv("KEYROLL_NOTIFY_0_URL=https://hooks.example.test/services/T0/B0/x")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("keyroll policy job: %v\n%s\nconfig.yaml:\n%s", err, out, raw)
			}
			if o.name == "default" {
				for _, want := range []string{`path "transit/sign/keyroll-evidence"`, `path "secret/data/keyroll/evidence/head"`} {
					if !strings.Contains(string(out), want) {
						t.Errorf("the job's policy lacks %s:\n%s", want, out)
					}
				}
			}
		})
	}
}

// TestChartAPIKeyTarget: an api_key target and its block reach the rotation's config.yaml
// as written, and stay out of the listener sidecar's (nobody listens for an API key).
func TestChartAPIKeyTarget(t *testing.T) {
	objs := renderOption(t, chartOption{name: "API key rotated", values: apiKeyRotated})
	_, cfg := renderedConfig(t, objs)
	targets, _ := cfg["targets"].([]any)
	if len(targets) != 2 {
		t.Fatalf("targets = %v", cfg["targets"])
	}
	key, _ := targets[1].(map[string]any)
	block, _ := key["api_key"].(map[string]any)
	if key["kind"] != "api_key" || key["vault_path"] != "keyroll/digicert/api-key" || block["max_age"] != "30d" || block["in_use"] != "revoke" || fmt.Sprint(block["key_id"]) != "184" {
		t.Errorf("the api_key target in config.yaml: %v", key)
	}
	cc, _ := cfg["certcentral"].(map[string]any)
	if ref, _ := cc["api_key_vault"].(map[string]any); ref["path"] != "keyroll/digicert/api-key" || ref["field"] != "current" {
		t.Errorf("certcentral = %v, want api_key_vault on the API key's document", cc)
	}
	found := false
	for _, r := range objs {
		if cmap, ok := r.Obj.(*corev1.ConfigMap); ok && strings.HasSuffix(cmap.Name, "-listener-config") {
			found = true
			raw := cmap.Data["config.yaml"]
			if strings.Contains(raw, "api_key") || !strings.Contains(raw, "keyroll/digicert/prod-us") {
				t.Errorf("the listener's config holds the API key target or lacks prod-us:\n%s", raw)
			}
		}
	}
	if !found {
		t.Error("no listener config rendered")
	}
}
