package manifesttest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/keyroll/keyroll/deploy/kubernetes/manifesttest/kubetest"
)

// kube is a client of a test cluster that records every warning the API server sends.
type kube struct {
	t       *testing.T
	cluster *kubetest.Cluster
	cs      *kubernetes.Clientset
	dyn     dynamic.Interface
	mapper  meta.ResettableRESTMapper

	mu       sync.Mutex
	warnings []string
}

func (k *kube) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, text string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.warnings = append(k.warnings, fmt.Sprintf("%d %s", code, text))
}

// takeWarnings returns the warnings received since the last call.
func (k *kube) takeWarnings() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.warnings
	k.warnings = nil
	return w
}

func newKube(t *testing.T, c *kubetest.Cluster) *kube {
	t.Helper()
	k := &kube{t: t, cluster: c}
	cfg := &rest.Config{
		Host:            c.URL,
		BearerToken:     c.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM},
		QPS:             100, Burst: 200,
	}
	cfg.WarningHandlerWithContext = k
	var err error
	if k.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if k.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return k
}

// restrictedNamespace creates a namespace that enforces, warns on and audits the restricted
// Pod Security profile.
func (k *kube) restrictedNamespace(ctx context.Context, name string) {
	k.t.Helper()
	labels := map[string]string{}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		labels["pod-security.kubernetes.io/"+mode] = "restricted"
		labels["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	_, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		k.t.Fatalf("namespace %s: %v", name, err)
	}
}

// apply applies one object server-side (field validation Strict), first as a dry run, then
// for real. Any error or warning fails the test.
func (k *kube) apply(ctx context.Context, obj *unstructured.Unstructured) {
	k.t.Helper()
	for _, dryRun := range []bool{true, false} {
		if err := k.applyOnce(ctx, obj, dryRun); err != nil {
			k.t.Error(err)
			return
		}
	}
}

// applyOnce applies obj server-side and returns the API server's rejection or warnings.
func (k *kube) applyOnce(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	k.t.Helper()
	gvk := obj.GroupVersionKind()
	// A CRD applied just before is served within moments.
	m, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	for deadline := time.Now().Add(30 * time.Second); err != nil; {
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: %v", gvk, err)
		}
		time.Sleep(200 * time.Millisecond)
		k.mapper.Reset()
		m, err = k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		k.t.Fatal(err)
	}
	what := fmt.Sprintf("apply of %s %s/%s", gvk.Kind, obj.GetNamespace(), obj.GetName())
	opts := metav1.PatchOptions{FieldManager: "keyroll-test", Force: ptr(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
		what = "dry-run " + what
	}
	_, err = k.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	return k.problem(what, err)
}

// problem returns err, or the warnings the API server sent since the last call, as one
// error naming what was done.
func (k *kube) problem(what string, err error) error {
	w := k.takeWarnings()
	switch {
	case err != nil:
		return fmt.Errorf("%s rejected: %v", what, err)
	case len(w) > 0:
		return fmt.Errorf("%s: warnings %q", what, w)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// admitPod creates a pod from a workload's pod template with a server-side dry run: the
// restricted profile is enforced on pods only (on workloads it warns), and a pod is also
// checked against the service account and the volumes it names.
func (k *kube) admitPod(ctx context.Context, ns, name string, spec corev1.PodSpec) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	_, err := k.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	return k.problem("pod of "+ns+"/"+name, err)
}

// kustomizeBuild renders deploy/kubernetes with kustomize, as kubectl apply -k does.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// splitObjects decodes a multi-document YAML stream into objects, moved to namespace ns.
func splitObjects(t *testing.T, stream []byte, ns string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split("\n"+string(stream), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetNamespace(ns)
		objs = append(objs, u)
	}
	return objs
}

// monitoringCRDs registers PrometheusRule and ServiceMonitor. The Prometheus Operator's own
// CRDs are not served by the Go module proxy; these accept any spec, so the API server
// checks those two objects' metadata only (their specs are decoded strictly into the
// operator's Go types by TestChartLintAndRender).
func (k *kube) monitoringCRDs(ctx context.Context) {
	k.t.Helper()
	for _, kind := range []string{"PrometheusRule", "ServiceMonitor"} {
		plural := strings.ToLower(kind) + "s"
		crd := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1",
			"kind":       "CustomResourceDefinition",
			"metadata":   map[string]any{"name": plural + ".monitoring.coreos.com"},
			"spec": map[string]any{
				"group": "monitoring.coreos.com",
				"names": map[string]any{"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind)},
				"scope": "Namespaced",
				"versions": []any{map[string]any{
					"name": "v1", "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{
						"type": "object",
						"properties": map[string]any{
							"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
						},
					}},
				}},
			},
		}}
		k.apply(ctx, crd)
	}
	k.mapper.Reset()
}

// TestCluster runs keyroll's Kubernetes deployment and Vault's Kubernetes login against a
// real API server (manifesttest/kubetest).
func TestCluster(t *testing.T) {
	c := kubetest.Start(t)
	k := newKube(t, c)
	for _, sub := range []struct {
		name string
		test func(*testing.T, *kube)
	}{
		{"ServerSideValidation", testServerSideValidation},
		{"ServerCatchesProblems", testServerCatchesProblems},
		{"VaultKubernetesLogin", testVaultLogin},
		{"HelmInstall", testHelmInstall},
	} {
		t.Run(sub.name, func(t *testing.T) { k.t = t; sub.test(t, k) })
	}
}

func testServerSideValidation(t *testing.T, k *kube) {
	ctx := context.Background()
	k.monitoringCRDs(ctx)
	// The priority class the "every knob" rendering names: admission refuses a pod whose
	// class does not exist.
	k.apply(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
		"metadata": map[string]any{"name": "keyroll-test"}, "value": int64(1000),
	}})
	type rendering struct {
		name   string
		stream []byte
	}
	renderings := []rendering{{"kustomize", kustomizeBuild(t, dir)}, {"kustomize listener", kustomizeBuild(t, filepath.Join(dir, "listener"))},
		{"evidence export pod", read(t, evidenceExportPod)}}
	for _, o := range chartOptions {
		out, err := helm(t, append([]string{"template", "keyroll", chartDir, "--namespace", "keyroll"}, valuesArgs(t, o)...)...)
		if err != nil {
			t.Fatal(err)
		}
		renderings = append(renderings, rendering{"chart " + o.name, out})
	}
	for i, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			k.t = t
			ns := fmt.Sprintf("keyroll-%d", i)
			k.restrictedNamespace(ctx, ns)
			k.defaultServiceAccount(ctx, ns)
			objs := splitObjects(t, r.stream, ns)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
			for _, obj := range objs {
				k.apply(ctx, obj)
			}
			for _, obj := range objs {
				switch obj.GetKind() {
				case "CronJob":
					var cj batchv1.CronJob
					fromUnstructured(t, obj, &cj)
					if err := k.admitPod(ctx, ns, cj.Name+"-pod", cj.Spec.JobTemplate.Spec.Template.Spec); err != nil {
						t.Error(err)
					}
				case "Deployment":
					var d appsv1.Deployment
					fromUnstructured(t, obj, &d)
					if err := k.admitPod(ctx, ns, d.Name+"-pod", d.Spec.Template.Spec); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
}

// testServerCatchesProblems proves the checks above have teeth: each broken copy of the
// kustomize CronJob is rejected or warned about by the API server.
func testServerCatchesProblems(t *testing.T, k *kube) {
	ctx := context.Background()
	ns := "keyroll-broken"
	k.restrictedNamespace(ctx, ns)
	var good *unstructured.Unstructured
	for _, o := range splitObjects(t, kustomizeBuild(t, dir), ns) {
		if o.GetKind() == "CronJob" {
			good = o
		} else {
			k.apply(ctx, o)
		}
	}
	podPath := []string{"spec", "jobTemplate", "spec", "template", "spec"}
	tests := []struct {
		name   string
		break_ func(u *unstructured.Unstructured)
		pod    bool // the problem shows when the pod is admitted
	}{
		{"unknown field", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "Forbid", "spec", "concurrencyPolicey")
		}, false},
		{"podFailurePolicy names another container", func(u *unstructured.Unstructured) {
			rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "jobTemplate", "spec", "podFailurePolicy", "rules")
			_ = unstructured.SetNestedField(rules[0].(map[string]any), "other", "onExitCodes", "containerName")
			_ = unstructured.SetNestedSlice(u.Object, rules, "spec", "jobTemplate", "spec", "podFailurePolicy", "rules")
		}, false},
		{"unknown time zone", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "Mars/Olympus_Mons", "spec", "timeZone")
		}, false},
		{"privilege escalation allowed", func(u *unstructured.Unstructured) {
			cs, _, _ := unstructured.NestedSlice(u.Object, append(podPath, "containers")...)
			_ = unstructured.SetNestedField(cs[0].(map[string]any), true, "securityContext", "allowPrivilegeEscalation")
			_ = unstructured.SetNestedSlice(u.Object, cs, append(podPath, "containers")...)
		}, true},
		{"hostPath volume", func(u *unstructured.Unstructured) {
			vs, _, _ := unstructured.NestedSlice(u.Object, append(podPath, "volumes")...)
			vs = append(vs, map[string]any{"name": "host", "hostPath": map[string]any{"path": "/etc"}})
			_ = unstructured.SetNestedSlice(u.Object, vs, append(podPath, "volumes")...)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k.t = t
			bad := good.DeepCopy()
			tt.break_(bad)
			err := k.applyOnce(ctx, bad, true)
			if tt.pod {
				if err == nil {
					t.Errorf("applying the CronJob gave no warning")
				}
				var cj batchv1.CronJob
				fromUnstructured(t, bad, &cj)
				err = k.admitPod(ctx, ns, "broken", cj.Spec.JobTemplate.Spec.Template.Spec)
			}
			if err == nil {
				t.Fatal("the API server accepted it")
			}
			t.Logf("refused: %v", err)
		})
	}
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	b, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

// keyrollBinary builds keyroll once per test binary.
var keyrollBinary = sync.OnceValues(func() (string, error) {
	d, err := os.MkdirTemp("", "keyroll-manifesttest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(d, "keyroll")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = "../../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build keyroll: %v\n%s", err, out)
	}
	return bin, nil
})

// kubeconfig writes a kubeconfig for the test cluster's admin and returns its path.
func (k *kube) kubeconfig(t *testing.T) string {
	t.Helper()
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "test",
		"clusters": []any{map[string]any{"name": "test", "cluster": map[string]any{
			"server": k.cluster.URL, "certificate-authority-data": base64.StdEncoding.EncodeToString(k.cluster.CAPEM)}}},
		"users":    []any{map[string]any{"name": "admin", "user": map[string]any{"token": k.cluster.AdminToken}}},
		"contexts": []any{map[string]any{"name": "test", "context": map[string]any{"cluster": "test", "user": "admin"}}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// testHelmInstall installs the chart with `helm install` on the real API server, every
// knob set, into a namespace that enforces the restricted profile; `helm install` refuses
// values of the wrong type and unknown keys (values.schema.json) before creating anything.
func testHelmInstall(t *testing.T, k *kube) {
	ctx := context.Background()
	env := []string{"KUBECONFIG=" + k.kubeconfig(t)}
	ns := "keyroll-helm"
	k.restrictedNamespace(ctx, ns)
	k.defaultServiceAccount(ctx, ns)
	k.apply(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
		"metadata": map[string]any{"name": "keyroll-test"}, "value": int64(1000),
	}})
	for _, tt := range schemaRefusals {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			_, err := helmEnv(t, env, append([]string{"install", "keyroll-bad", chartDir, "--namespace", ns}, setArgs(tt.set)...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	var o chartOption
	for _, c := range chartOptions {
		if c.name == "every knob" {
			o = c
		}
	}
	out, err := helmEnv(t, env, append([]string{"install", "keyroll", chartDir, "--namespace", ns, "--wait=false"}, valuesArgs(t, o)...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.cs.BatchV1().CronJobs(ns).Get(ctx, "keyroll-rotator", metav1.GetOptions{}); err != nil {
		t.Errorf("the CronJob: %v", err)
	}
	if pols, err := k.cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{}); err != nil || len(pols.Items) != 2 {
		t.Errorf("NetworkPolicies: %v, %v", pols, err)
	}
	if list, err := k.cs.BatchV1().CronJobs("keyroll-helm").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=keyroll-bad"}); err != nil || len(list.Items) != 0 {
		t.Errorf("a refused install created objects: %v, %v", list, err)
	}
	// NOTES show the sidecar to add, with its resources and security context.
	notes := string(out)
	i := strings.Index(notes, "containers:\n")
	j := strings.Index(notes, "volumes:\n")
	if i < 0 || j < i {
		t.Fatalf("NOTES show no sidecar:\n%s", notes)
	}
	var sidecar struct {
		Containers []corev1.Container `json:"containers"`
		Volumes    []corev1.Volume    `json:"volumes"`
	}
	if err := yaml.UnmarshalStrict([]byte(notes[i:]), &sidecar); err != nil || len(sidecar.Containers) != 1 || len(sidecar.Volumes) != 3 {
		t.Fatalf("the sidecar in NOTES: %v\n%s", err, notes[i:])
	}
	c := sidecar.Containers[0]
	if c.Resources.Limits.Memory().String() != "48Mi" || c.SecurityContext == nil || c.SecurityContext.RunAsUser == nil || *c.SecurityContext.RunAsUser != 10001 {
		t.Errorf("the sidecar's resources %v or securityContext %v are not listenerSidecar.resources and securityContext", c.Resources, c.SecurityContext)
	}
	k.serviceAccount(ctx, ns, "webhook-listener-pod")
	if err := k.admitPod(ctx, ns, "sidecar", corev1.PodSpec{ServiceAccountName: "webhook-listener-pod", Containers: []corev1.Container{c}, Volumes: sidecar.Volumes, SecurityContext: &corev1.PodSecurityContext{
		RunAsNonRoot: ptr(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}); err != nil {
		t.Errorf("the sidecar as NOTES show it: %v", err)
	}
}

// defaultServiceAccount creates the namespace's "default" service account, which a real
// cluster's controller manager creates and this test cluster (API server only) does not:
// admission refuses a pod whose service account is missing.
func (k *kube) defaultServiceAccount(ctx context.Context, ns string) {
	k.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := k.cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		k.t.Fatalf("service account %s/default: %v", ns, err)
	}
}
