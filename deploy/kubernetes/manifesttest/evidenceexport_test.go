package manifesttest

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// evidenceExportPod is the one-off pod that gets the evidence out of the CronJob's volume.
var evidenceExportPod = filepath.Join("evidence-export", "pod.yaml")

// TestEvidenceExportPod decodes the export pod strictly and checks that it reads the
// CronJob's evidence volume, read-only, with the CronJob's image and security settings,
// and exports the file the CronJob writes.
func TestEvidenceExportPod(t *testing.T) {
	pod := load[corev1.Pod](t, evidenceExportPod)
	cj := load[batchv1.CronJob](t, "cronjob.yaml")
	job := cj.Spec.JobTemplate.Spec.Template.Spec
	if pod.Namespace != cj.Namespace || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("namespace %q, restartPolicy %q; want %q, Never", pod.Namespace, pod.Spec.RestartPolicy, cj.Namespace)
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.Volumes) != 1 {
		t.Fatalf("want one container and one volume: %+v", pod.Spec)
	}
	c, rc := pod.Spec.Containers[0], job.Containers[0]
	if c.Image != rc.Image {
		t.Errorf("image %q, want the CronJob's %q", c.Image, rc.Image)
	}
	if !reflect.DeepEqual(c.SecurityContext, rc.SecurityContext) {
		t.Errorf("container securityContext differs from the CronJob's")
	}
	v := pod.Spec.Volumes[0]
	ji := slices.IndexFunc(job.Volumes, func(jv corev1.Volume) bool { return jv.Name == v.Name })
	if ji < 0 || v.PersistentVolumeClaim == nil || job.Volumes[ji].PersistentVolumeClaim == nil ||
		v.PersistentVolumeClaim.ClaimName != job.Volumes[ji].PersistentVolumeClaim.ClaimName || !v.PersistentVolumeClaim.ReadOnly {
		t.Errorf("volume %+v: want the CronJob's evidence claim, read-only", v)
	}
	var mount, jobMount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == v.Name {
			mount = &c.VolumeMounts[i]
		}
	}
	for i := range rc.VolumeMounts {
		if rc.VolumeMounts[i].Name == v.Name {
			jobMount = &rc.VolumeMounts[i]
		}
	}
	if mount == nil || jobMount == nil || mount.MountPath != jobMount.MountPath || !mount.ReadOnly {
		t.Fatalf("mount %+v: want the CronJob's path %+v, read-only", mount, jobMount)
	}
	// The file the CronJob's config.yaml writes (evidence.file).
	cm := load[corev1.ConfigMap](t, "configmap.yaml")
	file := ""
	for _, line := range strings.Split(cm.Data["config.yaml"], "\n") {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "file: "); ok {
			file = strings.Fields(f)[0]
		}
	}
	if want := []string{"evidence", "export", file}; file == "" || !slices.Equal(c.Args, want) ||
		!strings.HasPrefix(file, mount.MountPath+"/") {
		t.Errorf("args %q, want %q on the mount %s", c.Args, want, mount.MountPath)
	}
}
