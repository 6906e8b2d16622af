package deploy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sObject is what the tests read of a Kubernetes object; spec is
// decoded by kind.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec yaml.Node         `yaml:"spec"`
}

type statefulSetSpec struct {
	ServiceName string `yaml:"serviceName"`
	Replicas    *int   `yaml:"replicas"`
	Selector    struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	} `yaml:"volumeClaimTemplates"`
}

type podSpec struct {
	ServiceAccountName            string `yaml:"serviceAccountName"`
	TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot       *bool `yaml:"runAsNonRoot"`
		RunAsUser          *int  `yaml:"runAsUser"`
		RunAsGroup         *int  `yaml:"runAsGroup"`
		FSGroup            *int  `yaml:"fsGroup"`
		SupplementalGroups []int `yaml:"supplementalGroups"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name        string     `yaml:"name"`
			DefaultMode *int       `yaml:"defaultMode"`
			Items       []struct{} `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName  string     `yaml:"secretName"`
			DefaultMode *int       `yaml:"defaultMode"`
			Items       []struct{} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe    *probe `yaml:"startupProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		RunAsUser                *int  `yaml:"runAsUser"`
		RunAsGroup               *int  `yaml:"runAsGroup"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

type serviceSpec struct {
	ClusterIP string            `yaml:"clusterIP"`
	Selector  map[string]string `yaml:"selector"`
	Ports     []struct {
		Name       string    `yaml:"name"`
		Port       int       `yaml:"port"`
		TargetPort yaml.Node `yaml:"targetPort"`
	} `yaml:"ports"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Endpoints []struct {
		Port string `yaml:"port"`
		Path string `yaml:"path"`
	} `yaml:"endpoints"`
}

// k8sManifest is deploy/kubernetes/omen.yaml, each object's spec decoded.
type k8sManifest struct {
	objects     []k8sObject
	header      string // the comment lines before the first object
	configMap   k8sObject
	service     k8sObject
	svc         serviceSpec
	statefulSet k8sObject
	sts         statefulSetSpec
	omen        container // the StatefulSet's omen container
}

// readManifest decodes every YAML document of name.
func readManifest(t *testing.T, name string) ([]k8sObject, string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return decodeManifest(t, name, b)
}

// decodeManifest decodes every YAML document of b, the file name's
// content, and returns its header.
func decodeManifest(t *testing.T, name string, b []byte) ([]k8sObject, string) {
	t.Helper()
	var header []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		header = append(header, l)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var objs []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, len(objs)+1, err)
		}
		objs = append(objs, o)
	}
	return objs, strings.Join(header, "\n")
}

// one returns the only object of kind, decoding its spec into spec (when
// not nil).
func one(t *testing.T, objs []k8sObject, kind string, spec any) k8sObject {
	t.Helper()
	var found []k8sObject
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(found), kind)
	}
	if spec != nil {
		if err := found[0].Spec.Decode(spec); err != nil {
			t.Fatalf("%s %s: spec: %v", kind, found[0].Metadata.Name, err)
		}
	}
	return found[0]
}

// k8sManifestPath is deploy/kubernetes/omen.yaml.
var k8sManifestPath = filepath.Join(repoRoot, "deploy", "kubernetes", "omen.yaml")

func parseK8s(t *testing.T) *k8sManifest {
	t.Helper()
	b, err := os.ReadFile(k8sManifestPath)
	if err != nil {
		t.Fatal(err)
	}
	return parseK8sData(t, b)
}

// parseK8sData decodes b as parseK8s does deploy/kubernetes/omen.yaml.
func parseK8sData(t *testing.T, b []byte) *k8sManifest {
	t.Helper()
	m := &k8sManifest{}
	m.objects, m.header = decodeManifest(t, k8sManifestPath, b)
	m.configMap = one(t, m.objects, "ConfigMap", nil)
	m.service = one(t, m.objects, "Service", &m.svc)
	m.statefulSet = one(t, m.objects, "StatefulSet", &m.sts)
	cs := m.sts.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("StatefulSet: %d containers, want omen's alone", len(cs))
	}
	m.omen = cs[0]
	if len(m.omen.Args) == 0 || m.omen.Args[0] != "run" {
		t.Fatalf("container args %q, want run and its flags", m.omen.Args)
	}
	return m
}

// flags returns the container's omen run flags by name.
func (m *k8sManifest) flags() map[string]string { return flagValues(m.omen.Args[1:]) }

// mountOf returns the volume mount whose directory holds path (path
// itself for a directory), and the path relative to it.
func (m *k8sManifest) mountOf(t *testing.T, path string) (volume, rel string) {
	t.Helper()
	for _, vm := range m.omen.VolumeMounts {
		if vm.SubPath != "" && vm.MountPath == path {
			return vm.Name, vm.SubPath
		}
		if vm.SubPath == "" && within(path, vm.MountPath) {
			r, _ := filepath.Rel(vm.MountPath, path)
			return vm.Name, r
		}
	}
	t.Fatalf("%s is in no volume mount of the container", path)
	return "", ""
}

// configYAML returns the ConfigMap key that --config.file reads: the
// config volume's ConfigMap is this file's.
func (m *k8sManifest) configYAML(t *testing.T) []byte {
	t.Helper()
	vol, key := m.mountOf(t, m.flags()["config.file"])
	for _, v := range m.sts.Template.Spec.Volumes {
		if v.Name != vol {
			continue
		}
		if v.ConfigMap == nil || v.ConfigMap.Name != m.configMap.Metadata.Name {
			t.Fatalf("--config.file is in volume %q, not the ConfigMap %s", vol, m.configMap.Metadata.Name)
		}
		data, ok := m.configMap.Data[key]
		if !ok {
			t.Fatalf("--config.file %s: the ConfigMap %s has no key %q (keys: %v)", m.flags()["config.file"], m.configMap.Metadata.Name, key, slices.Sorted(maps.Keys(m.configMap.Data)))
		}
		return []byte(data)
	}
	t.Fatalf("volume %q of --config.file's mount is not defined", vol)
	return nil
}

// probes returns the container's probes by kind; each must be an HTTP
// GET.
func (m *k8sManifest) probes(t *testing.T) map[string]*probe {
	t.Helper()
	ps := map[string]*probe{"startup": m.omen.StartupProbe, "liveness": m.omen.LivenessProbe, "readiness": m.omen.ReadinessProbe}
	for kind, p := range ps {
		if p == nil || p.HTTPGet == nil {
			t.Fatalf("no %s probe with httpGet", kind)
		}
	}
	return ps
}

// webPort returns the container port named by n (a number or a port
// name), or 0.
func (m *k8sManifest) webPort(n yaml.Node) int {
	for _, p := range m.omen.Ports {
		if n.Value == p.Name || n.Value == strconv.Itoa(p.ContainerPort) {
			return p.ContainerPort
		}
	}
	return 0
}

// TestKubernetes checks deploy/kubernetes/omen.yaml and servicemonitor.yaml.
func TestKubernetes(t *testing.T) {
	m := parseK8s(t)
	flags := m.flags()
	ns := m.statefulSet.Metadata.Namespace
	for _, o := range m.objects {
		if o.Kind == "Secret" {
			t.Errorf("a Secret %s is in the manifest: create the token with kubectl create secret, never commit one", o.Metadata.Name)
		}
		if o.Metadata.Namespace != ns {
			t.Errorf("%s %s in namespace %q, the StatefulSet in %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace, ns)
		}
	}

	t.Run("args", func(t *testing.T) {
		if len(m.omen.Command) != 0 {
			t.Errorf("command %q: leave it out, the image's ENTRYPOINT is omen", m.omen.Command)
		}
		checkRunArgs(t, m.omen.Args[1:])
	})

	t.Run("config", func(t *testing.T) {
		cfg := checkConfig(t, "the ConfigMap's "+flags["config.file"], m.configYAML(t))
		if len(cfg.Alerting.Alertmanagers) == 0 {
			t.Errorf("no alerting.alertmanagers")
		}
		// external_url is the Service's in-cluster name and port.
		u, err := url.Parse(cfg.Alerting.ExternalURL)
		if err != nil || u.Hostname() != m.service.Metadata.Name+"."+ns+".svc" || u.Port() != strconv.Itoa(m.svc.Ports[0].Port) {
			t.Errorf("alerting.external_url %q, want http://%s.%s.svc:%d (the Service)", cfg.Alerting.ExternalURL, m.service.Metadata.Name, ns, m.svc.Ports[0].Port)
		}
		if flags["nats.url"] == "" {
			t.Errorf("no --nats.url: the manifest connects to an external NATS JetStream")
		}
		// Alertmanager is reached by its in-cluster name, which people's
		// browsers cannot resolve: the file shows alertmanager_ui_url,
		// commented, and uncommented it loads as that key.
		if cfg.Alerting.AlertmanagerUIURL != "" {
			return
		}
		data := string(m.configYAML(t))
		re := regexp.MustCompile(`(?m)^(\s*)# (alertmanager_ui_url: (\S+))$`)
		sm := re.FindStringSubmatch(data)
		if sm == nil {
			t.Fatalf("the ConfigMap's Alertmanager is %s, an in-cluster name: want a commented alertmanager_ui_url: URL line for the URL browsers reach it by", cfg.Alerting.Alertmanagers[0].URL)
		}
		on := checkConfig(t, "the ConfigMap's omen.yml with alertmanager_ui_url uncommented", []byte(re.ReplaceAllString(data, "$1$2")))
		if on.Alerting.AlertmanagerUIURL != sm[3] {
			t.Errorf("uncommented, alertmanager_ui_url is %q, want %q: the line is not in alerting:", on.Alerting.AlertmanagerUIURL, sm[3])
		}
	})

	t.Run("one replica", func(t *testing.T) {
		if m.sts.Replicas == nil || *m.sts.Replicas != 1 {
			t.Errorf("replicas %s, want 1 set explicitly: Badger has a single writer", show(m.sts.Replicas))
		}
	})

	t.Run("ports", func(t *testing.T) {
		port, _ := checkDaemonFlags(t, flags)
		if len(m.omen.Ports) != 1 || m.omen.Ports[0].ContainerPort != port {
			t.Fatalf("container ports %+v, want one: %d, --web.listen-address's", m.omen.Ports, port)
		}
		for kind, p := range m.probes(t) {
			if m.webPort(p.HTTPGet.Port) != port {
				t.Errorf("%s probe on port %q, want the web port %d", kind, p.HTTPGet.Port.Value, port)
			}
		}
		if len(m.svc.Ports) != 1 || m.webPort(m.svc.Ports[0].TargetPort) != port {
			t.Errorf("Service ports %+v: want one, targeting the web port %d", m.svc.Ports, port)
		}
		if !mapsContain(m.sts.Template.Metadata.Labels, m.svc.Selector) || len(m.svc.Selector) == 0 {
			t.Errorf("Service selector %v does not select the pod template's labels %v", m.svc.Selector, m.sts.Template.Metadata.Labels)
		}
		if !mapsContain(m.sts.Template.Metadata.Labels, m.sts.Selector.MatchLabels) {
			t.Errorf("StatefulSet selector %v does not select its template's labels", m.sts.Selector.MatchLabels)
		}
		if m.sts.ServiceName != m.service.Metadata.Name {
			t.Errorf("serviceName %q, want the Service %q", m.sts.ServiceName, m.service.Metadata.Name)
		}
		// The governing Service of a StatefulSet is headless.
		if m.svc.ClusterIP != "None" {
			t.Errorf("Service %s: clusterIP %q, want None: the StatefulSet's governing Service is headless", m.service.Metadata.Name, m.svc.ClusterIP)
		}
		sa := one(t, m.objects, "ServiceAccount", nil)
		if m.sts.Template.Spec.ServiceAccountName != sa.Metadata.Name {
			t.Errorf("serviceAccountName %q, want the ServiceAccount %q", m.sts.Template.Spec.ServiceAccountName, sa.Metadata.Name)
		}
		// Scrape annotations on the pod template alone: on the Service
		// too, the common kubernetes-pods and kubernetes-service-endpoints
		// jobs would both scrape omen.
		if a := m.sts.Template.Metadata.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(port) || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("the pod template's prometheus.io annotations %v: want scrape true, port %d, path /metrics", a, port)
		}
		for _, o := range m.objects {
			for k := range o.Metadata.Annotations {
				if strings.HasPrefix(k, "prometheus.io/") {
					t.Errorf("%s %s has the annotation %s: only the pod template carries them (else omen is scraped twice)", o.Kind, o.Metadata.Name, k)
				}
			}
		}
	})

	t.Run("storage", func(t *testing.T) {
		vol, rel := m.mountOf(t, flags["storage.path"])
		if rel != "." {
			t.Errorf("--storage.path %s is below the mount of %q, want the mount itself", flags["storage.path"], vol)
		}
		if len(m.sts.VolumeClaimTemplates) != 1 || m.sts.VolumeClaimTemplates[0].Metadata.Name != vol {
			t.Errorf("--storage.path's volume %q is not the StatefulSet's volume claim template", vol)
		}
	})

	t.Run("token", func(t *testing.T) {
		tf := flags["web.token-file"]
		if tf == "" {
			t.Fatal("no --web.token-file")
		}
		vol, key := m.mountOf(t, tf)
		var secret string
		for _, v := range m.sts.Template.Spec.Volumes {
			if v.Name == vol && v.Secret != nil {
				secret = v.Secret.SecretName
			}
		}
		if secret == "" {
			t.Fatalf("--web.token-file %s is in volume %q, not a Secret's", tf, vol)
		}
		// The header's kubectl command creates that Secret, in that
		// namespace, with that key.
		want := fmt.Sprintf("kubectl -n %s create secret generic %s \\\n#     --from-literal=%s=", m.statefulSet.Metadata.Namespace, secret, key)
		if !strings.Contains(m.header, want) {
			t.Errorf("the header does not show how to create the Secret: want %q in it", want)
		}
	})

	t.Run("nats auth", func(t *testing.T) {
		b, err := os.ReadFile(k8sManifestPath)
		if err != nil {
			t.Fatal(err)
		}
		checkK8sNATSAuth(t, m, parseK8sData(t, uncommentK8s(b)))
	})

	t.Run("shutdown", func(t *testing.T) {
		_, shutdown := checkDaemonFlags(t, flags)
		g := m.sts.Template.Spec.TerminationGracePeriodSeconds
		if g == nil || float64(*g) <= shutdown.Seconds() {
			t.Errorf("terminationGracePeriodSeconds %s, want above --shutdown-timeout %v", show(g), shutdown)
		}
	})

	t.Run("security", func(t *testing.T) {
		ps := m.sts.Template.Spec.SecurityContext
		if ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
			t.Errorf("runAsNonRoot is not true")
		}
		d, err := parseDockerfile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		uid, _, _ := strings.Cut(d.final().last("USER"), ":")
		if ps.RunAsUser == nil || strconv.Itoa(*ps.RunAsUser) != uid {
			t.Errorf("runAsUser %s, want the image's USER %s", show(ps.RunAsUser), uid)
		}
		sc := m.omen.SecurityContext
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("allowPrivilegeEscalation is not false")
		}
		if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			t.Errorf("capabilities.drop %q, want [ALL]", sc.Capabilities.Drop)
		}
		r := m.omen.Resources
		for _, res := range []string{"cpu", "memory"} {
			if r.Requests[res] == "" || r.Limits[res] == "" {
				t.Errorf("resources: %s request %q, limit %q: want both", res, r.Requests[res], r.Limits[res])
			}
		}
	})

	t.Run("permissions", func(t *testing.T) {
		checkK8sPermissions(t, m)
	})

	t.Run("remote_write", func(t *testing.T) {
		u := remoteWriteURL(t, m)
		port, _ := checkDaemonFlags(t, flags)
		if u.Hostname() != m.service.Metadata.Name+"."+ns+".svc" || u.Port() != strconv.Itoa(m.svc.Ports[0].Port) || m.svc.Ports[0].Port != port {
			t.Errorf("remote_write url %s: want the Service, %s.%s.svc:%d", u, m.service.Metadata.Name, ns, port)
		}
		if !strings.Contains(m.header, "credentials_file: /etc/prometheus/secrets/"+m.secretName(t)+"/") {
			t.Errorf("the remote_write snippet does not read the token from the Secret %s", m.secretName(t))
		}
	})

	t.Run("servicemonitor", func(t *testing.T) {
		objs, _ := readManifest(t, filepath.Join(repoRoot, "deploy", "kubernetes", "servicemonitor.yaml"))
		var sm serviceMonitorSpec
		o := one(t, objs, "ServiceMonitor", &sm)
		if o.Metadata.Namespace != ns {
			t.Errorf("ServiceMonitor in namespace %q, want %q", o.Metadata.Namespace, ns)
		}
		if !mapsContain(m.service.Metadata.Labels, sm.Selector.MatchLabels) || len(sm.Selector.MatchLabels) == 0 {
			t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", sm.Selector.MatchLabels, m.service.Metadata.Labels)
		}
		if len(sm.Endpoints) != 1 || sm.Endpoints[0].Port != m.svc.Ports[0].Name || sm.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v: want port %q, path /metrics", sm.Endpoints, m.svc.Ports[0].Name)
		}
	})
}

// checkK8sPermissions checks that omen, as the user and groups the pod's
// security context gives it, can read its token and configuration and
// write its store, as the kubelet sets the volumes up (k8sRunAs).
func checkK8sPermissions(t *testing.T, m *k8sManifest) {
	t.Helper()
	r := k8sRunAs(t, m)
	d, err := parseDockerfile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	_, imageGID, _ := strings.Cut(d.final().last("USER"), ":")
	if strconv.Itoa(r.gid) != imageGID {
		t.Errorf("runAsGroup %d, want the image's USER group %s", r.gid, imageGID)
	}
	ps := m.sts.Template.Spec.SecurityContext
	if ps.FSGroup == nil {
		t.Errorf("no fsGroup: the volume claim's root (root's on many provisioners) is not writable by uid %d, and the Secret's token file is root's", r.uid)
	} else if *ps.FSGroup != r.gid {
		t.Errorf("fsGroup %d, want runAsGroup %d (the image's USER group): the volumes' group is omen's", *ps.FSGroup, r.gid)
	}
	for flag, f := range map[string]fileOwner{"web.token-file": r.token, "config.file": k8sVolumeFile(t, m, "config.file")} {
		if !r.may(f, 0o4) {
			t.Errorf("--%s: mode %#o, owner %d, group %d: not readable by uid %d, groups %v", flag, f.mode, f.uid, f.gid, r.uid, r.groups())
		}
	}
	if !r.may(r.data, 0o3) {
		t.Errorf("--storage.path's volume: mode %#o, owner %d, group %d: not writable by uid %d, groups %v", r.data.mode, r.data.uid, r.data.gid, r.uid, r.groups())
	}
	vol, _ := m.mountOf(t, m.flags()["storage.path"])
	for _, vm := range m.omen.VolumeMounts {
		if vm.Name == vol && vm.ReadOnly {
			t.Errorf("--storage.path's volume %q is mounted read-only", vol)
		}
	}
}

// k8sRunAs returns the user and groups the pod's security context runs
// omen as (the container's runAsUser and runAsGroup over the pod's), and
// its token file and store directory as the kubelet sets them up: a
// Secret's or ConfigMap's files owned by root, their group fsGroup when it
// is set (else root's), their mode defaultMode (0644 when unset); the
// claim's volume, whose root is root's on many provisioners (0755), given
// to the group fsGroup (group-writable, setgid) when fsGroup is set, else
// left as it is. The kubelet today also adds group read to a Secret's
// files when fsGroup is set (kubernetes/kubernetes#57923, which calls that
// a bug to fix): not counted on here, so a defaultMode 0400 is root's
// alone.
func k8sRunAs(t *testing.T, m *k8sManifest) *runAs {
	t.Helper()
	ps := m.sts.Template.Spec.SecurityContext
	uid, gid := ps.RunAsUser, ps.RunAsGroup
	if sc := m.omen.SecurityContext; sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc := m.omen.SecurityContext; sc.RunAsGroup != nil {
		gid = sc.RunAsGroup
	}
	if uid == nil || gid == nil {
		t.Fatalf("runAsUser %s, runAsGroup %s: want both set (the image's USER, numeric)", show(uid), show(gid))
	}
	r := &runAs{uid: *uid, gid: *gid, supplementary: slices.Clone(ps.SupplementalGroups), data: fileOwner{0, 0, 0o755}}
	if ps.FSGroup != nil {
		r.supplementary = append(r.supplementary, *ps.FSGroup)
		r.data = fileOwner{0, *ps.FSGroup, 0o775 | os.ModeSetgid}
	}
	r.token = k8sVolumeFile(t, m, "web.token-file")
	return r
}

// k8sVolumeFile returns the owner, group and mode of the file the flag
// names in a Secret's or ConfigMap's volume, as k8sRunAs describes.
func k8sVolumeFile(t *testing.T, m *k8sManifest, flag string) fileOwner {
	t.Helper()
	f := fileOwner{0, 0, 0o644}
	if fs := m.sts.Template.Spec.SecurityContext.FSGroup; fs != nil {
		f.gid = *fs
	}
	vol, _ := m.mountOf(t, m.flags()[flag])
	for _, v := range m.sts.Template.Spec.Volumes {
		if v.Name != vol {
			continue
		}
		var mode *int
		items := 0
		switch {
		case v.Secret != nil:
			items, mode = len(v.Secret.Items), v.Secret.DefaultMode
		case v.ConfigMap != nil:
			items, mode = len(v.ConfigMap.Items), v.ConfigMap.DefaultMode
		}
		if items != 0 {
			t.Errorf("volume %q has items: this test reads the file's mode from defaultMode alone", vol)
		}
		if mode != nil {
			f.mode = os.FileMode(*mode)
		}
	}
	return f
}

// secretName returns the Secret the token volume mounts.
func (m *k8sManifest) secretName(t *testing.T) string {
	t.Helper()
	for _, v := range m.sts.Template.Spec.Volumes {
		if v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Fatal("no Secret volume")
	return ""
}

// remoteWriteURL returns the header's remote_write URL.
func remoteWriteURL(t *testing.T, m *k8sManifest) *url.URL {
	t.Helper()
	sm := regexp.MustCompile(`(?m)^#\s+remote_write:\s*\n#\s+- url: (\S+)`).FindStringSubmatch(m.header)
	if sm == nil {
		t.Fatal("the header has no remote_write snippet (remote_write:, then - url: …)")
	}
	u, err := url.Parse(sm[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		t.Fatalf("remote_write url %s: %v", u, err)
	}
	if path.Clean(u.Path) != "/api/v1/write" {
		t.Errorf("remote_write url %s: want the path /api/v1/write", u)
	}
	return u
}

// mapsContain reports whether every key of sub has its value in m.
func mapsContain(m, sub map[string]string) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

// show formats an optional number: its value, or "unset".
func show(n *int) string {
	if n == nil {
		return "unset"
	}
	return strconv.Itoa(*n)
}

// k8sCommented is a commented-out line of YAML in the manifest's objects:
// "# - " (an item) or "#   " (the rest of one), after its indentation.
// The prose comments start with a word.
var k8sCommented = regexp.MustCompile(`(?m)^(\s*)# ((?:- |  ).*)$`)

// uncommentK8s returns the manifest b with the commented-out YAML lines of
// its objects (after the header, whose commands and snippets are not the
// manifest's) uncommented.
func uncommentK8s(b []byte) []byte {
	s := string(b)
	end := 0
	for end < len(s) && s[end] == '#' {
		nl := strings.IndexByte(s[end:], '\n')
		if nl < 0 {
			return b
		}
		end += nl + 1
	}
	return []byte(s[:end] + k8sCommented.ReplaceAllString(s[end:], "$1$2"))
}

// natsAuthFlags are omen run's flags for a NATS server that wants
// authentication (README, Deploying): the manifest shows each, commented.
var natsAuthFlags = []string{"nats.creds-file", "nats.user", "nats.password-file", "nats.token-file",
	"nats.tls-ca-file", "nats.tls-cert-file", "nats.tls-key-file"}

// checkK8sNATSAuth checks the manifest's commented-out NATS authentication
// (on: the manifest m with it uncommented): m has none of its flags; on
// adds them and nothing else, each known to omen run's flag parser, each
// file in a Secret's volume mounted read-only that the header's kubectl
// command creates with that key, readable by omen's user.
func checkK8sNATSAuth(t *testing.T, m, on *k8sManifest) {
	t.Helper()
	was, flags := m.flags(), on.flags()
	for _, f := range natsAuthFlags {
		if was[f] != "" {
			t.Errorf("--%s is set: the manifest's NATS needs no authentication, its flags are commented out", f)
		}
		if flags[f] == "" {
			t.Errorf("uncommented, the manifest has no --%s: show it, commented, after --nats.url", f)
		}
	}
	for name, v := range flags {
		if w, ok := was[name]; ok && w != v || !ok && !slices.Contains(natsAuthFlags, name) {
			t.Errorf("uncommented, the manifest's --%s=%s: want only NATS authentication flags added", name, v)
		}
	}
	checkRunArgs(t, on.omen.Args[1:])
	r := k8sRunAs(t, on)
	ns := on.statefulSet.Metadata.Namespace
	for _, f := range natsAuthFlags {
		if !strings.HasSuffix(f, "-file") || flags[f] == "" {
			continue
		}
		vol, key := on.mountOf(t, flags[f])
		if tokenVol, _ := on.mountOf(t, flags["web.token-file"]); vol == tokenVol {
			t.Errorf("--%s %s is in the web token's volume %q: want a Secret of its own", f, flags[f], vol)
		}
		var secret string
		for _, v := range on.sts.Template.Spec.Volumes {
			if v.Name == vol && v.Secret != nil {
				secret = v.Secret.SecretName
			}
		}
		if secret == "" {
			t.Errorf("--%s %s is in volume %q, not a Secret's", f, flags[f], vol)
			continue
		}
		for _, vm := range on.omen.VolumeMounts {
			if vm.Name == vol && !vm.ReadOnly {
				t.Errorf("--%s's volume %q is not mounted readOnly", f, vol)
			}
		}
		if want := fmt.Sprintf("kubectl -n %s create secret generic %s ", ns, secret); !strings.Contains(on.header, want) {
			t.Errorf("--%s: the header does not show how to create the Secret %s: want %q in it", f, secret, want)
		}
		if !regexp.MustCompile(`(?m)^#.*[ ,=]` + regexp.QuoteMeta(key) + `=`).MatchString(on.header) {
			t.Errorf("--%s: the header's kubectl command does not name the Secret's key %s (%s=…)", f, key, key)
		}
		if o := k8sVolumeFile(t, on, f); !r.may(o, 0o4) {
			t.Errorf("--%s: mode %#o, owner %d, group %d: not readable by uid %d, groups %v", f, o.mode, o.uid, o.gid, r.uid, r.groups())
		}
	}
}
