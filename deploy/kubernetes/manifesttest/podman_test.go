package manifesttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// containerScript is scripts/container.sh, the one place that holds the podman flags this
// machine needs (storage driver, runtime, cgroup manager, rlimits).
const containerScript = "../../../scripts/container.sh"

// keyrollImage returns the image `make image` built (KEYROLL_IMAGE, set by scripts/test.sh
// from scripts/image.sh's last line). Without it the test is skipped, or fails under CI=true.
func keyrollImage(t *testing.T) string {
	t.Helper()
	img := os.Getenv("KEYROLL_IMAGE")
	if img == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KEYROLL_IMAGE is not set (CI=true: the container tests must run); make test sets it with scripts/image.sh")
		}
		t.Skip("KEYROLL_IMAGE is not set; make test sets it with scripts/image.sh")
	}
	return img
}

// podman returns the command `scripts/container.sh podman args...`.
func podman(args ...string) *exec.Cmd {
	return exec.Command(containerScript, append([]string{"podman"}, args...)...)
}

// podRun is what `podman run` needs to run one container of a rendered pod as the kubelet
// would: flags for the security context, environment and mounts, and the arguments.
type podRun struct {
	flags []string
	args  []string
	env   []string // secrets, passed by name (-e NAME) so that they are not in podman's arguments
	uid   int64
	grace int64 // terminationGracePeriodSeconds, for `podman stop --time`
}

// kubeletRun derives podRun for container name of pod. volumes maps each of the pod's volumes
// to the host directory standing in for it (see standInVolumes); secrets maps
// "secret-name/key" to the value a secretKeyRef reads.
func kubeletRun(t *testing.T, pod corev1.PodSpec, name string, volumes, secrets map[string]string) podRun {
	t.Helper()
	var c *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		t.Fatalf("the pod has no container %q", name)
	}
	r := podRun{grace: 30}
	if pod.TerminationGracePeriodSeconds != nil {
		r.grace = *pod.TerminationGracePeriodSeconds
	}
	r.flags = append(r.flags, securityFlags(t, pod.SecurityContext, c.SecurityContext, &r.uid)...)
	env, secretEnv := envFlags(t, c, secrets)
	r.flags, r.env = append(r.flags, env...), secretEnv
	if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.flags = append(r.flags, "--memory", strconv.FormatInt(m.Value(), 10))
	}
	for _, m := range c.VolumeMounts {
		host, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("container %s mounts volume %q, which has no stand-in", name, m.Name)
		}
		// A mount inside another (the TLS secret in the config's directory) needs its mount
		// point in the outer volume, which the kubelet makes; the outer one may be read-only.
		for _, outer := range c.VolumeMounts {
			if rel, ok := strings.CutPrefix(m.MountPath, outer.MountPath+"/"); ok {
				mustMkdir(t, filepath.Join(volumes[outer.Name], outer.SubPath, rel), 0o755)
			}
		}
		spec := filepath.Join(host, m.SubPath) + ":" + m.MountPath
		if m.ReadOnly {
			spec += ":ro"
		}
		r.flags = append(r.flags, "-v", spec)
	}
	if len(c.Command) > 0 {
		r.flags = append(r.flags, "--entrypoint", c.Command[0])
		r.args = append(r.args, c.Command[1:]...)
	}
	r.args = append(r.args, c.Args...)
	return r
}

// securityFlags are the podman flags of a pod's and a container's security context (the
// container's fields win, as in Kubernetes); it fails on fields it cannot honour.
func securityFlags(t *testing.T, pod *corev1.PodSecurityContext, c *corev1.SecurityContext, uid *int64) []string {
	t.Helper()
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	user, group, nonRoot := pod.RunAsUser, pod.RunAsGroup, pod.RunAsNonRoot
	if c.RunAsUser != nil {
		user = c.RunAsUser
	}
	if c.RunAsGroup != nil {
		group = c.RunAsGroup
	}
	if c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	if user == nil || group == nil {
		t.Fatal("the pod does not set runAsUser and runAsGroup: the image's USER would decide")
	}
	if nonRoot != nil && *nonRoot && *user == 0 {
		t.Fatal("runAsNonRoot with runAsUser 0: the kubelet would refuse to start it")
	}
	*uid = *user
	flags := []string{"--user", fmt.Sprintf("%d:%d", *user, *group)}
	if pod.FSGroup != nil {
		flags = append(flags, "--group-add", strconv.FormatInt(*pod.FSGroup, 10))
	}
	for _, g := range pod.SupplementalGroups {
		flags = append(flags, "--group-add", strconv.FormatInt(g, 10))
	}
	if c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem {
		// The kubelet adds no tmpfs for /tmp, /run and /var/tmp; podman would.
		flags = append(flags, "--read-only", "--read-only-tmpfs=false")
	}
	if c.Privileged != nil && *c.Privileged {
		flags = append(flags, "--privileged")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Log("allowPrivilegeEscalation is not false: running without no-new-privileges")
	} else {
		flags = append(flags, "--security-opt", "no-new-privileges")
	}
	if c.Capabilities != nil {
		for _, cap := range c.Capabilities.Drop {
			flags = append(flags, "--cap-drop", string(cap))
		}
		for _, cap := range c.Capabilities.Add {
			flags = append(flags, "--cap-add", string(cap))
		}
	}
	for _, sc := range []*corev1.SeccompProfile{pod.SeccompProfile, c.SeccompProfile} {
		if sc != nil && sc.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Fatalf("seccomp profile %s: only RuntimeDefault (podman's default profile) is supported here", sc.Type)
		}
	}
	return flags
}

// envFlags are the container's environment as -e flags; a secret's value is not in them
// but in env, for podman's own environment.
func envFlags(t *testing.T, c *corev1.Container, secrets map[string]string) (flags, env []string) {
	t.Helper()
	for _, e := range c.Env {
		v := e.Value
		switch from := e.ValueFrom; {
		case from == nil:
		case from.SecretKeyRef != nil:
			s, ok := secrets[from.SecretKeyRef.Name+"/"+from.SecretKeyRef.Key]
			if !ok {
				t.Fatalf("env %s reads secret %s key %s, which the test does not provide", e.Name, from.SecretKeyRef.Name, from.SecretKeyRef.Key)
			}
			flags = append(flags, "-e", e.Name)
			env = append(env, e.Name+"="+s)
			continue
		case from.ResourceFieldRef != nil && from.ResourceFieldRef.Resource == "limits.memory":
			m := c.Resources.Limits[corev1.ResourceMemory]
			v = strconv.FormatInt(m.Value(), 10)
		default:
			t.Fatalf("env %s: valueFrom %+v is not supported here", e.Name, from)
		}
		flags = append(flags, "-e", e.Name+"="+v)
	}
	return flags, env
}

// standInVolumes makes a host directory for each volume of pod, as the kubelet would fill
// it: configMap items from the rendered ConfigMaps (mode 0644), secret items from secrets
// ("secret-name/key"), the projected service account token from token, and an empty
// directory for a persistentVolumeClaim. With the pod's fsGroup, every volume is given to
// that group as the kubelet does (setgid directories, group-writable claims); without it,
// a claim stays root's, 0755. extra adds volumes the chart's values would add.
func standInVolumes(t *testing.T, pod corev1.PodSpec, configMaps map[string]map[string]string, secrets map[string]string, token string) map[string]string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range pod.Volumes {
		dir := filepath.Join(root, v.Name)
		mustMkdir(t, dir, 0o755)
		files := map[string]string{}
		switch {
		case v.ConfigMap != nil:
			data, ok := configMaps[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("volume %s: the chart rendered no ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			files = data
			if len(v.ConfigMap.Items) > 0 {
				files = map[string]string{}
				for _, it := range v.ConfigMap.Items {
					files[it.Path] = data[it.Key]
				}
			}
		case v.Secret != nil:
			for k, val := range secrets {
				if name, key, _ := strings.Cut(k, "/"); name == v.Secret.SecretName {
					files[key] = val
				}
			}
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken == nil {
					t.Fatalf("volume %s: only projected service account tokens are supported here", v.Name)
				}
				files[s.ServiceAccountToken.Path] = token
			}
		case v.PersistentVolumeClaim != nil:
		default:
			t.Fatalf("volume %s: kind not supported here", v.Name)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if g := pod.SecurityContext; g != nil && g.FSGroup != nil {
			applyFSGroup(t, dir, int(*g.FSGroup), v.PersistentVolumeClaim != nil)
		}
		out[v.Name] = dir
	}
	return out
}

// applyFSGroup gives dir and its files to group gid as the kubelet does for fsGroup:
// setgid directory, group read (and write, for a claim).
func applyFSGroup(t *testing.T, dir string, gid int, writable bool) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, 0, gid); err != nil {
			return err
		}
		mode := fi.Mode().Perm() | 0o040
		if fi.IsDir() {
			mode |= 0o010 | os.ModeSetgid
		}
		if writable {
			mode |= 0o020
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// renderedPods are the objects of one `helm template` of the chart, as a parent chart that
// also includes the listener sidecar (templates keyroll.listenerSidecar and
// keyroll.listenerSidecarVolumes) in a receiver's pod renders them.
type renderedPods struct {
	rotation   corev1.PodSpec               // the CronJob's or the Deployment's pod
	receiver   corev1.PodSpec               // the webhook receiver's pod with the sidecar
	configMaps map[string]map[string]string // name → data
}

// receiverTemplate is the parent chart's one template: a pod with the chart's sidecar.
const receiverTemplate = `apiVersion: v1
kind: Pod
metadata:
  name: receiver
spec:
  containers:
    {{- include "keyroll.listenerSidecar" .Subcharts.keyroll | nindent 4 }}
  volumes:
    {{- include "keyroll.listenerSidecarVolumes" .Subcharts.keyroll | nindent 4 }}
`

// renderPods renders the chart (as the subchart "keyroll" of a receiver's chart) with the
// values set ("key=value", keys relative to the keyroll chart) and decodes what the
// container tests run.
func renderPods(t *testing.T, set ...string) *renderedPods {
	t.Helper()
	parent := t.TempDir()
	mustMkdir(t, filepath.Join(parent, "templates"), 0o755)
	if err := os.CopyFS(filepath.Join(parent, "charts", "keyroll"), os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: receiver\nversion: 0.1.0\n",
		"templates/pod.yaml": receiverTemplate,
	} {
		if err := os.WriteFile(filepath.Join(parent, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var args []string
	for _, s := range set {
		args = append(args, "--set", "keyroll."+s)
	}
	out, err := helm(t, append([]string{"template", "keyroll", parent, "--namespace", "keyroll"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	r := &renderedPods{configMaps: map[string]map[string]string{}}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct{ Name string }
			Data     map[string]string `json:"data"`
			Spec     struct {
				corev1.PodSpec
				Template    *corev1.PodTemplateSpec `json:"template"`
				JobTemplate *struct {
					Spec struct{ Template corev1.PodTemplateSpec }
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered document: %v\n%s", err, doc)
		}
		switch obj.Kind {
		case "ConfigMap":
			r.configMaps[obj.Metadata.Name] = obj.Data
		case "CronJob":
			r.rotation = obj.Spec.JobTemplate.Spec.Template.Spec
		case "Deployment":
			r.rotation = obj.Spec.Template.Spec
		case "Pod":
			r.receiver = obj.Spec.PodSpec
		}
	}
	if len(r.rotation.Containers) == 0 || len(r.receiver.Containers) == 0 {
		t.Fatalf("the chart rendered no rotation pod or no sidecar:\n%s", out)
	}
	return r
}

// TestKubeletRunFlags: the podman flags derived from the chart's CronJob carry its security
// context, and the image runs with them.
func TestKubeletRunFlags(t *testing.T) {
	p := renderPods(t)
	vols := standInVolumes(t, p.rotation, p.configMaps, map[string]string{}, "token")
	r := kubeletRun(t, p.rotation, "keyroll", vols, map[string]string{"keyroll-digicert/api-key": "k"})
	got := strings.Join(r.flags, " ")
	for _, want := range []string{"--user 65532:65532", "--group-add 65532", "--read-only --read-only-tmpfs=false",
		"--security-opt no-new-privileges", "--cap-drop ALL", "-e DIGICERT_API_KEY -e", ":/etc/keyroll:ro", ":/var/lib/keyroll"} {
		if !strings.Contains(got, want) {
			t.Errorf("flags %q lack %q", got, want)
		}
	}
	t.Logf("podman run %s IMAGE %s", got, strings.Join(r.args, " "))
	if os.Getenv("KEYROLL_IMAGE") == "" {
		return
	}
	cmd := podman(append(append([]string{"run", "--rm"}, r.flags...), keyrollImage(t), "version")...)
	cmd.Env = append(os.Environ(), r.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keyroll version under the pod's flags: %v\n%s", err, out)
	}
	t.Logf("keyroll version: %s", out)
}
