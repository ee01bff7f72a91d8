package manifesttest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestListenerSidecarExample decodes the sidecar example of deploy/kubernetes/listener
// strictly and checks that the sidecar forwards to the receiver's loopback port, which
// only the sidecar's port is exposed beside.
func TestListenerSidecarExample(t *testing.T) {
	sub := func(name string) string { return filepath.Join("listener", name) }
	k := load[kustomization](t, sub("kustomization.yaml"))
	want := []string{"configmap.yaml", "deployment.yaml", "networkpolicy.yaml", "service.yaml", "serviceaccount.yaml"}
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, want) {
		t.Errorf("resources %v, want %v", got, want)
	}
	d := load[appsv1.Deployment](t, sub("deployment.yaml"))
	load[corev1.ConfigMap](t, sub("configmap.yaml"))
	svc := load[corev1.Service](t, sub("service.yaml"))
	sa := load[corev1.ServiceAccount](t, sub("serviceaccount.yaml"))
	for _, ns := range []string{d.Namespace, svc.Namespace, sa.Namespace} {
		if ns != k.Namespace {
			t.Errorf("namespace %q, want %q", ns, k.Namespace)
		}
	}
	spec := d.Spec.Template.Spec
	if spec.ServiceAccountName != sa.Name {
		t.Errorf("service account %q, want %q", spec.ServiceAccountName, sa.Name)
	}
	var sidecar *corev1.Container
	for i := range spec.Containers {
		if spec.Containers[i].Name == "keyroll" {
			sidecar = &spec.Containers[i]
		}
	}
	if sidecar == nil {
		t.Fatal("no keyroll container")
	}
	args := strings.Join(sidecar.Args, " ")
	for _, want := range []string{"listen", "--upstream=http://127.0.0.1:", "--tls-cert=", "--tls-key=", "--admin-addr=:9090"} {
		if !strings.Contains(args, want) {
			t.Errorf("sidecar args %q lack %s", args, want)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "https" || sidecar.Ports[0].Name != "https" {
		t.Errorf("the Service must expose the sidecar's port only: %+v", svc.Spec.Ports)
	}
	// Probes and scrapes go to the admin port: the webhook port serves deliveries only.
	if p := sidecar.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "admin" || p.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe %+v, want GET /healthz on the admin port", p)
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/port"] != "9090" || a["prometheus.io/scheme"] != "http" {
		t.Errorf("scrape annotations %v, want the admin port 9090 over http", a)
	}
	// The NetworkPolicy lets the receiver's pods accept on the sidecar's port, and scrapes on
	// its admin port, only.
	pol := load[networkingv1.NetworkPolicy](t, sub("networkpolicy.yaml"))
	if pol.Namespace != k.Namespace || !slices.Equal(pol.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress"}) ||
		pol.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] ||
		len(pol.Spec.Ingress) != 2 || len(pol.Spec.Ingress[0].Ports) != 1 ||
		pol.Spec.Ingress[0].Ports[0].Port.IntValue() != int(sidecar.Ports[0].ContainerPort) ||
		len(pol.Spec.Ingress[1].Ports) != 1 || pol.Spec.Ingress[1].Ports[0].Port.IntValue() != int(sidecar.Ports[1].ContainerPort) ||
		len(pol.Spec.Ingress[1].From) == 0 {
		t.Errorf("the listener's NetworkPolicy must admit the sidecar's port %d, and its admin port from the monitoring namespace, only: %+v", sidecar.Ports[0].ContainerPort, pol.Spec)
	}
}
