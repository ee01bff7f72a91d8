package manifesttest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const dir = ".." // deploy/kubernetes

// decodeStrict decodes one YAML manifest into obj, failing on unknown fields (field names
// are matched case-sensitively, as the API server does), duplicate fields and extra
// documents.
func decodeStrict(data []byte, obj any) error {
	if regexp.MustCompile(`(?m)^---`).Match(data) {
		return errors.New("more than one YAML document")
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func load[T any](t *testing.T, name string) *T {
	t.Helper()
	obj := new(T)
	if err := decodeStrict(read(t, name), obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return obj
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
}

func TestManifestsDecodeStrictly(t *testing.T) {
	tests := []struct {
		file, apiVersion, kind string
		obj                    interface{ GetNamespace() string }
	}{
		{"cronjob.yaml", "batch/v1", "CronJob", &batchv1.CronJob{}},
		{"serviceaccount.yaml", "v1", "ServiceAccount", &corev1.ServiceAccount{}},
		{"configmap.yaml", "v1", "ConfigMap", &corev1.ConfigMap{}},
		{"pvc.yaml", "v1", "PersistentVolumeClaim", &corev1.PersistentVolumeClaim{}},
		{"networkpolicy.yaml", "networking.k8s.io/v1", "NetworkPolicy", &networkingv1.NetworkPolicy{}},
	}
	k := load[kustomization](t, "kustomization.yaml")
	var files []string
	for _, tt := range tests {
		files = append(files, tt.file)
		t.Run(tt.file, func(t *testing.T) {
			if err := decodeStrict(read(t, tt.file), tt.obj); err != nil {
				t.Fatal(err)
			}
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(read(t, tt.file), &tm); err != nil {
				t.Fatal(err)
			}
			if tm.APIVersion != tt.apiVersion || tm.Kind != tt.kind {
				t.Errorf("%s/%s, want %s/%s", tm.APIVersion, tm.Kind, tt.apiVersion, tt.kind)
			}
			if ns := tt.obj.GetNamespace(); ns != k.Namespace {
				t.Errorf("namespace %q, want the kustomization's %q", ns, k.Namespace)
			}
		})
	}

	// The kustomization applies exactly the manifests above, and every YAML file in the
	// directory is one of them.
	yamls, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var onDisk []string
	for _, y := range yamls {
		if b := filepath.Base(y); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	sort.Strings(files)
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, files) || !slices.Equal(onDisk, files) {
		t.Errorf("kustomization resources %v, files on disk %v, want %v", got, onDisk, files)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s/%s", k.APIVersion, k.Kind)
	}
}

// TestStrictDecodingCatchesTypos proves decodeStrict has teeth: each broken copy of the
// CronJob must fail, although a lenient decoder (or the API server without field
// validation) would accept it and silently drop the field.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	good := string(read(t, "cronjob.yaml"))
	tests := []struct {
		name, old, new string
	}{
		{"misspelled field", "concurrencyPolicy: Forbid", "concurrencyPolicey: Forbid"},
		{"wrong case", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		{"misplaced field", "          restartPolicy: Never", "          restartPolicy: Never\n          backoffLimit: 3"},
		{"duplicate field", "  concurrencyPolicy: Forbid", "  concurrencyPolicy: Forbid\n  concurrencyPolicy: Allow"},
		{"wrong type", "backoffLimit: 3", "backoffLimit: three"},
		{"second document", "apiVersion: batch/v1", "apiVersion: batch/v1\n---\nkind: Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(good, tt.old, tt.new, 1)
			if bad == good {
				t.Fatalf("cronjob.yaml no longer contains %q", tt.old)
			}
			var cj batchv1.CronJob
			if err := decodeStrict([]byte(bad), &cj); err == nil {
				t.Errorf("a CronJob with %q decoded without error", tt.new)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}

func TestCronJob(t *testing.T) {
	cj := load[batchv1.CronJob](t, "cronjob.yaml")
	s := cj.Spec
	js := s.JobTemplate.Spec
	pod := js.Template.Spec
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("want %s", what)
		}
	}
	check("schedule set", s.Schedule != "")
	check(`timeZone "Etc/UTC"`, s.TimeZone != nil && *s.TimeZone == "Etc/UTC")
	check("concurrencyPolicy Forbid", s.ConcurrencyPolicy == batchv1.ForbidConcurrent)
	check("startingDeadlineSeconds", s.StartingDeadlineSeconds != nil && *s.StartingDeadlineSeconds > 0)
	check("job history limits", s.SuccessfulJobsHistoryLimit != nil && s.FailedJobsHistoryLimit != nil)
	check("backoffLimit 3", js.BackoffLimit != nil && *js.BackoffLimit == 3)
	check("activeDeadlineSeconds", js.ActiveDeadlineSeconds != nil && *js.ActiveDeadlineSeconds > 0)
	check("restartPolicy Never (required by podFailurePolicy)", pod.RestartPolicy == corev1.RestartPolicyNever)
	check("serviceAccountName keyroll", pod.ServiceAccountName == "keyroll")
	check("automountServiceAccountToken false (only the projected Vault token)", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken)
	var vaultToken bool
	for _, v := range pod.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if sat := src.ServiceAccountToken; sat != nil && sat.Audience == "vault" && sat.Path == "token" {
				vaultToken = v.Name == "vault-token"
			}
		}
	}
	check(`projected volume "vault-token": service account token for audience "vault" at token`, vaultToken)

	// podFailurePolicy: exit codes 2 and 3 of the keyroll container fail the Job; disruptions
	// do not count against backoffLimit.
	if js.PodFailurePolicy == nil {
		t.Fatal("no podFailurePolicy")
	}
	var failJob, ignoreDisruption bool
	for _, r := range js.PodFailurePolicy.Rules {
		if e := r.OnExitCodes; r.Action == batchv1.PodFailurePolicyActionFailJob && e != nil &&
			e.ContainerName != nil && *e.ContainerName == "keyroll" &&
			e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Equal(e.Values, []int32{2, 3}) {
			failJob = true
		}
		for _, c := range r.OnPodConditions {
			if r.Action == batchv1.PodFailurePolicyActionIgnore && c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
				ignoreDisruption = true
			}
		}
	}
	check("podFailurePolicy: exit codes In [2, 3] on container keyroll -> FailJob", failJob)
	check("podFailurePolicy: DisruptionTarget -> Ignore", ignoreDisruption)

	psc := pod.SecurityContext
	if psc == nil {
		t.Fatal("no pod securityContext")
	}
	check("pod runAsNonRoot", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	check("pod runAsUser 65532", psc.RunAsUser != nil && *psc.RunAsUser == 65532)
	check("pod seccompProfile RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
	check("fsGroupChangePolicy OnRootMismatch (keeps the evidence file 0600)",
		psc.FSGroupChangePolicy != nil && *psc.FSGroupChangePolicy == corev1.FSGroupChangeOnRootMismatch)

	if len(pod.Containers) != 1 || pod.Containers[0].Name != "keyroll" {
		t.Fatalf("want one container named keyroll, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	check(`args contain "--trigger cronjob"`, strings.Contains(" "+strings.Join(c.Args, " ")+" ", " --trigger cronjob "))
	check(`args start with "run"`, len(c.Args) > 0 && c.Args[0] == "run")
	csc := c.SecurityContext
	if csc == nil {
		t.Fatal("no container securityContext")
	}
	check("readOnlyRootFilesystem", csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem)
	check("container runAsNonRoot", csc.RunAsNonRoot != nil && *csc.RunAsNonRoot)
	check("container runAsUser 65532", csc.RunAsUser != nil && *csc.RunAsUser == 65532)
	check("allowPrivilegeEscalation false", csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation)
	check("capabilities drop ALL", csc.Capabilities != nil && slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}))
	check("container seccompProfile RuntimeDefault", csc.SeccompProfile != nil && csc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	check("VAULT_ADDR", env["VAULT_ADDR"].Value != "")
	key := env["DIGICERT_API_KEY"]
	check("DIGICERT_API_KEY from a Secret, never a literal",
		key.Value == "" && key.ValueFrom != nil && key.ValueFrom.SecretKeyRef != nil)

	mem := c.Resources.Limits.Memory()
	check("memory limit 64Mi", mem.String() == "64Mi")
	check("memory request", !c.Resources.Requests.Memory().IsZero())
	check("cpu request", !c.Resources.Requests.Cpu().IsZero())
}

// TestManifestsAgree checks the references between the manifests, the configuration and the
// Vault role.
func TestManifestsAgree(t *testing.T) {
	cj := load[batchv1.CronJob](t, "cronjob.yaml")
	sa := load[corev1.ServiceAccount](t, "serviceaccount.yaml")
	cm := load[corev1.ConfigMap](t, "configmap.yaml")
	pvc := load[corev1.PersistentVolumeClaim](t, "pvc.yaml")
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]

	if pod.ServiceAccountName != sa.Name {
		t.Errorf("serviceAccountName %q, ServiceAccount %q", pod.ServiceAccountName, sa.Name)
	}
	mounts := map[string]string{} // volume name -> mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var configPath string // where the pod sees config.yaml
	var evidenceDir, tokenDir string
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Name {
				t.Errorf("volume %s mounts ConfigMap %q, want %q", v.Name, v.ConfigMap.Name, cm.Name)
			}
			for _, it := range v.ConfigMap.Items {
				if it.Key == "config.yaml" {
					configPath = filepath.Join(mounts[v.Name], it.Path)
				}
			}
		case v.PersistentVolumeClaim != nil:
			if v.PersistentVolumeClaim.ClaimName != pvc.Name {
				t.Errorf("volume %s claims %q, want %q", v.Name, v.PersistentVolumeClaim.ClaimName, pvc.Name)
			}
			evidenceDir = mounts[v.Name]
		case v.Projected != nil:
			tokenDir = mounts[v.Name]
		}
	}
	if i := slices.Index(c.Args, "--config"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != configPath {
		t.Errorf("args %q: want --config %s (the ConfigMap's mount)", c.Args, configPath)
	}

	cfgYAML, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatal("ConfigMap has no config.yaml")
	}
	var cfg struct {
		Vault struct {
			Address string `json:"address"`
			KVMount string `json:"kv_mount"`
			Auth    struct {
				Method string `json:"method"`
				Role   string `json:"role"`
				Mount  string `json:"mount"`
				// The projected Vault token, kept apart from the API server's default token.
				TokenFile string `json:"service_account_token_file"`
			} `json:"auth"`
		} `json:"vault"`
		Rotation struct {
			Schedule string `json:"schedule"`
		} `json:"rotation"`
		Targets []struct {
			VaultPath string `json:"vault_path"`
		} `json:"targets"`
		Evidence struct {
			File string `json:"file"`
		} `json:"evidence"`
	}
	// Not strict: the full schema is checked by keyroll's own config package in the root
	// module's deploy tests.
	if err := yaml.Unmarshal([]byte(cfgYAML), &cfg); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if cfg.Vault.Auth.Method != "kubernetes" {
		t.Errorf("vault.auth.method %q, want kubernetes", cfg.Vault.Auth.Method)
	}
	if f := cfg.Vault.Auth.TokenFile; tokenDir == "" || f != filepath.Join(tokenDir, "token") {
		t.Errorf("vault.auth.service_account_token_file %q is not the projected token (volume mounted at %q)", f, tokenDir)
	}
	if cfg.Evidence.File == "" || filepath.Dir(cfg.Evidence.File) != evidenceDir {
		t.Errorf("evidence.file %q is not on the evidence volume mounted at %q", cfg.Evidence.File, evidenceDir)
	}
	if want := "CRON_TZ=" + *cj.Spec.TimeZone + " " + cj.Spec.Schedule; cfg.Rotation.Schedule != want {
		t.Errorf("rotation.schedule %q, want %q to match the CronJob", cfg.Rotation.Schedule, want)
	}
	for _, e := range c.Env {
		if e.Name == "VAULT_ADDR" && e.Value != cfg.Vault.Address {
			t.Errorf("VAULT_ADDR %q differs from vault.address %q", e.Value, cfg.Vault.Address)
		}
	}

	// The Vault role binds this service account in this namespace, under the configured
	// role name and auth mount, to the job policy.
	script := string(read(t, "vault/kubernetes-auth-role.sh"))
	for _, want := range []string{
		fmt.Sprintf(`"auth/${AUTH_MOUNT}/role/%s"`, cfg.Vault.Auth.Role),
		"AUTH_MOUNT=${AUTH_MOUNT:-" + cfg.Vault.Auth.Mount + "}",
		"bound_service_account_names=" + sa.Name,
		"NAMESPACE=${NAMESPACE:-" + sa.Namespace + "}",
		`bound_service_account_namespaces="${NAMESPACE}"`,
		"token_policies=keyroll-job",
		"token_ttl=15m",
		"token_max_ttl=15m",
		"token_ttl=1h \\\n  token_max_ttl=4h", // the listener role's renewals end too
		`audience="${AUDIENCE}"`,
		"AUDIENCE=${AUDIENCE:-vault}",
		"vault policy write keyroll-job keyroll-job-policy.hcl",
		"vault policy write keyroll-listener-prod-us keyroll-listener-policy.hcl",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("kubernetes-auth-role.sh lacks %q", want)
		}
	}

	// The policies cover every target's document.
	for _, tg := range cfg.Targets {
		if !strings.HasPrefix(tg.VaultPath, "keyroll/digicert/") || cfg.Vault.KVMount != "secret" {
			t.Errorf("target %s/%s is outside the policies' secret/*/keyroll/digicert/*", cfg.Vault.KVMount, tg.VaultPath)
		}
	}
}

// policyPaths returns the capabilities of each path block of an HCL policy.
func policyPaths(t *testing.T, name string) map[string][]string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}`)
	b := read(t, name)
	// Drop comments so that a commented-out block does not count.
	src := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(string(b), "")
	paths := map[string][]string{}
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		var caps []string
		for _, c := range strings.Split(m[2], ",") {
			if c = strings.Trim(strings.TrimSpace(c), `"`); c != "" {
				caps = append(caps, c)
			}
		}
		sort.Strings(caps)
		paths[m[1]] = caps
	}
	if n := strings.Count(src, "path "); n != len(paths) {
		t.Errorf("%s: %d path blocks, %d understood", name, n, len(paths))
	}
	return paths
}

func TestVaultPolicies(t *testing.T) {
	tests := []struct {
		file string
		want map[string][]string
	}{
		{"vault/keyroll-job-policy.hcl", map[string][]string{
			"secret/data/keyroll/digicert/prod-us":     {"create", "read", "update"},
			"secret/destroy/keyroll/digicert/prod-us":  {"update"},
			"secret/metadata/keyroll/digicert/prod-us": {"create", "read", "update"},
			// The evidence, signed and anchored by default.
			"transit/sign/keyroll-evidence":     {"update"},
			"transit/keys/keyroll-evidence":     {"read"},
			"secret/data/keyroll/evidence/head": {"create", "read", "update"},
		}},
		{"vault/keyroll-listener-policy.hcl", map[string][]string{
			"secret/data/keyroll/digicert/prod-us": {"read"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := policyPaths(t, tt.file)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("paths and capabilities\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}
