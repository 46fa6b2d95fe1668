// Package helm tests the driftd Helm chart (deploy/helm/driftd) without a
// cluster: it renders the chart with Helm's own engine over the values
// matrix in driftd/ci, decodes every manifest strictly into the
// Kubernetes API types (unknown fields are errors), and checks what an
// operator relies on — against driftd itself, built from this
// repository: the environment the chart gives the container is one
// `driftd config check` accepts, the values cover every variable driftd
// reads with driftd's defaults, and the probe paths answer on a running
// driftd.
package helm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/twmb/franz-go/pkg/kfake"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	repoRoot = "../.."
	chartDir = "driftd"
)

// driftdBin is driftd built from this repository by TestMain.
var driftdBin string

func TestMain(m *testing.M) {
	// Helm's chart loader logs each symbolic link it follows (files/ links
	// to deploy/prometheus and deploy/grafana); that is intended here.
	log.SetOutput(io.Discard)
	dir, err := os.MkdirTemp("", "driftd-chart-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	driftdBin = filepath.Join(dir, "driftd")
	build := exec.Command("go", "build", "-o", driftdBin, "./cmd/driftd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building driftd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// driftd runs the driftd binary with exactly env as its environment.
func driftd(env []string, args ...string) (string, error) {
	cmd := exec.Command(driftdBin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("driftd %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// parseVars reads NAME=value lines.
func parseVars(t *testing.T, out string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("not NAME=value: %q", l)
		}
		vars[k] = v
	}
	return vars
}

// known is every variable driftd reads, with its default.
func known(t *testing.T) map[string]string {
	t.Helper()
	out, err := driftd(nil, "config", "vars")
	if err != nil {
		t.Fatal(err)
	}
	vars := parseVars(t, out)
	if len(vars) < 10 {
		t.Fatalf("driftd config vars listed only %d variables:\n%s", len(vars), out)
	}
	return vars
}

// chartValues is values.yaml.
func chartValues(t *testing.T) chartutil.Values {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestValuesCoverDriftdVars: values.yaml's config lists exactly the
// variables driftd reads — a variable added to driftd and not to the
// chart fails here, with the line to add — and its values are driftd's
// defaults: read by driftd, they give the configuration an empty
// environment gives.
func TestValuesCoverDriftdVars(t *testing.T) {
	vars := known(t)
	config, ok := chartValues(t)["config"].(map[string]any)
	if !ok {
		t.Fatal("values.yaml has no config map")
	}
	var missing, unknown []string
	for k, def := range vars {
		if _, ok := config[k]; !ok {
			missing = append(missing, fmt.Sprintf("  %s: %q", k, def))
		}
	}
	for k := range config {
		if _, ok := vars[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	if len(missing) > 0 {
		t.Errorf("%d variables driftd reads are missing from deploy/helm/driftd/values.yaml (config); add:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	if len(unknown) > 0 {
		t.Errorf("values.yaml config has variables driftd does not read (it would exit 2): %s", strings.Join(unknown, ", "))
	}
	var env []string
	for k, v := range config {
		if s := fmt.Sprint(v); s != "" {
			env = append(env, k+"="+s)
		}
	}
	fromChart, err := driftd(env, "config", "check")
	if err != nil {
		t.Fatalf("values.yaml's config is not a valid driftd configuration: %v", err)
	}
	defaults, err := driftd(nil, "config", "check")
	if err != nil {
		t.Fatal(err)
	}
	got, want := parseVars(t, fromChart), parseVars(t, defaults)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("values.yaml config.%s = %v: driftd reads it as %q, its default is %q", k, config[k], got[k], w)
		}
	}
}

// manifests is one rendering of the chart, decoded.
type manifests struct {
	values          chartutil.Values
	statefulSets    []*appsv1.StatefulSet
	services        []*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts []*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*monitoringv1.ServiceMonitor
	rules           []*monitoringv1.PrometheusRule
}

// matrix is the values files CI renders (driftd/ci/*-values.yaml).
func matrix(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("values matrix: %v %v", files, err)
	}
	return files
}

// render renders the chart with Helm's engine, as `helm template` does
// (schema validation included), and decodes every manifest strictly.
func render(t *testing.T, valuesFile string) manifests {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	user, err := chartutil.ReadValuesFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(chrt, user, chartutil.ReleaseOptions{Name: "t", Namespace: "ml", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatalf("%s: %v", valuesFile, err)
	}
	out, err := engine.Engine{Strict: true}.Render(chrt, vals)
	if err != nil {
		t.Fatalf("%s: render: %v", valuesFile, err)
	}
	m := manifests{values: vals["Values"].(chartutil.Values), configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(out[name], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			m.decode(t, name, []byte(doc))
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decode decodes one manifest into its API type; fields the type does
// not have are errors (a misspelt or misplaced field that kubectl would
// drop or the API server reject).
func (m *manifests) decode(t *testing.T, source string, doc []byte) {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		t.Fatalf("%s: %v\n%s", source, err, doc)
	}
	strict := func(into any) {
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %s %s: %v", source, meta.APIVersion, meta.Kind, err)
		}
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "apps/v1 StatefulSet":
		o := new(appsv1.StatefulSet)
		strict(o)
		m.statefulSets = append(m.statefulSets, o)
	case "v1 Service":
		o := new(corev1.Service)
		strict(o)
		m.services = append(m.services, o)
	case "v1 ConfigMap":
		o := new(corev1.ConfigMap)
		strict(o)
		m.configMaps[o.Name] = o
	case "v1 Secret":
		o := new(corev1.Secret)
		strict(o)
		m.secrets[o.Name] = o
	case "v1 ServiceAccount":
		o := new(corev1.ServiceAccount)
		strict(o)
		m.serviceAccounts = append(m.serviceAccounts, o)
	case "policy/v1 PodDisruptionBudget":
		o := new(policyv1.PodDisruptionBudget)
		strict(o)
		m.pdbs = append(m.pdbs, o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := new(monitoringv1.ServiceMonitor)
		strict(o)
		m.serviceMonitors = append(m.serviceMonitors, o)
	case "monitoring.coreos.com/v1 PrometheusRule":
		o := new(monitoringv1.PrometheusRule)
		strict(o)
		m.rules = append(m.rules, o)
	default:
		t.Fatalf("%s: no decoder for %s %s", source, meta.APIVersion, meta.Kind)
	}
}

func (m manifests) value(path ...string) any {
	var v any = map[string]any(m.values)
	for _, p := range path {
		mv, ok := v.(map[string]any)
		if !ok {
			if cv, ok := v.(chartutil.Values); ok {
				mv = cv
			} else {
				return nil
			}
		}
		v = mv[p]
	}
	return v
}

func (m manifests) str(path ...string) string {
	if v := m.value(path...); v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// TestChartMatrix renders every values file of the matrix and checks the
// invariants of each StatefulSet, and the objects around them.
func TestChartMatrix(t *testing.T) {
	vars := known(t)
	for _, file := range matrix(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), "-values.yaml"), func(t *testing.T) {
			m := render(t, file)
			want := 1
			if m.value("twoStage", "enabled") == true {
				want = 2
			}
			if len(m.statefulSets) != want {
				t.Fatalf("%d StatefulSets, want %d", len(m.statefulSets), want)
			}
			modes := map[string]string{} // mode → group
			for _, sts := range m.statefulSets {
				env := checkStatefulSet(t, m, sts, vars)
				if _, dup := modes[env["DRIFTD_MODE"]]; dup {
					t.Errorf("two StatefulSets run DRIFTD_MODE=%s", env["DRIFTD_MODE"])
				}
				modes[env["DRIFTD_MODE"]] = env["DRIFTD_GROUP"]
			}
			if want == 2 {
				if _, ok := modes["stage1"]; !ok || modes["stage1"] == modes["stage2"] {
					t.Errorf("two-stage mode: modes and groups %v, want stage1 and stage2 in different groups", modes)
				}
			}
			checkServices(t, m)
			checkOperatorObjects(t, m)
		})
	}
}

// checkStatefulSet checks one StatefulSet and returns its container's
// resolved DRIFTD_* environment.
func checkStatefulSet(t *testing.T, m manifests, sts *appsv1.StatefulSet, vars map[string]string) map[string]string {
	t.Helper()
	pod := sts.Spec.Template
	sel, err := metaSelector(sts.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("%s: selector %v does not match the pod labels %v", sts.Name, sts.Spec.Selector.MatchLabels, pod.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", sts.Name, len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	// Security: non-root, read-only root filesystem, no privilege escalation.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod security context %+v does not run as a non-root user", sts.Name, psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: container security context %+v", sts.Name, sc)
	}

	// The resolved environment, as the kubelet would give it.
	podName := sts.Name + "-0"
	env, files := resolveEnv(t, m, sts, podName)
	for k := range env {
		if strings.HasPrefix(k, "DRIFTD_") {
			if _, ok := vars[k]; !ok {
				t.Errorf("%s: %s is not a variable driftd reads (driftd would exit 2)", sts.Name, k)
			}
		}
	}
	// driftd accepts it.
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	if _, err := driftd(environ, "config", "check"); err != nil {
		t.Errorf("%s: driftd rejects the chart's environment: %v", sts.Name, err)
	}
	// Every path handed to driftd is a file of a mounted volume.
	for k, v := range env {
		if strings.HasPrefix(k, "DRIFTD_") && strings.HasPrefix(v, files) {
			if _, err := os.Stat(v); err != nil {
				t.Errorf("%s: %s points at a file no volume provides: %v", sts.Name, k, err)
			}
		}
	}

	// Static membership: the pod name.
	if m.value("kafka", "staticMembership") == true && env["DRIFTD_INSTANCE_ID"] != podName {
		t.Errorf("%s: DRIFTD_INSTANCE_ID = %q, want the pod name %q", sts.Name, env["DRIFTD_INSTANCE_ID"], podName)
	}
	// Exactly-once: a transactional ID per replica.
	if env["DRIFTD_EXACTLY_ONCE"] == "true" {
		env1, _ := resolveEnv(t, m, sts, sts.Name+"-1")
		if env["DRIFTD_TRANSACTIONAL_ID"] == "" || env["DRIFTD_TRANSACTIONAL_ID"] == env1["DRIFTD_TRANSACTIONAL_ID"] {
			t.Errorf("%s: transactional IDs %q and %q for two replicas", sts.Name, env["DRIFTD_TRANSACTIONAL_ID"], env1["DRIFTD_TRANSACTIONAL_ID"])
		}
	}

	// Probes: /healthz and /ready on the port driftd listens on.
	port, probePort := -1, -1
	for _, p := range c.Ports {
		switch p.Name {
		case "http":
			port = int(p.ContainerPort)
		case "probes":
			probePort = int(p.ContainerPort)
		}
	}
	addr := env["DRIFTD_HTTP_ADDR"]
	if addr == "" {
		addr = vars["DRIFTD_HTTP_ADDR"]
	}
	if _, p, _ := net.SplitHostPort(addr); p != strconv.Itoa(port) {
		t.Errorf("%s: container port http = %d, DRIFTD_HTTP_ADDR = %q", sts.Name, port, addr)
	}
	for _, pr := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/ready"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP probe for %s", sts.Name, pr.path)
			continue
		}
		g := pr.probe.HTTPGet
		// With a web configuration (basic auth, which kubelet cannot
		// send) the probes use DRIFTD_PROBE_ADDR: plain HTTP, no auth.
		wantPort, wantScheme := "http", m.str("web", "scheme")
		if env["DRIFTD_WEB_CONFIG_FILE"] != "" {
			wantPort, wantScheme = "probes", "HTTP"
			if _, p, _ := net.SplitHostPort(env["DRIFTD_PROBE_ADDR"]); p != strconv.Itoa(probePort) {
				t.Errorf("%s: container port probes = %d, DRIFTD_PROBE_ADDR = %q", sts.Name, probePort, env["DRIFTD_PROBE_ADDR"])
			}
		}
		if g.Path != pr.path || g.Port.String() != wantPort || string(g.Scheme) != wantScheme {
			t.Errorf("%s: probe %s %s on port %s, want %s %s on %s", sts.Name, g.Scheme, g.Path, g.Port.String(), wantScheme, pr.path, wantPort)
		}
	}

	// Graceful stop: the grace period outlasts driftd's shutdown timeout.
	shutdown := env["DRIFTD_SHUTDOWN_TIMEOUT"]
	if shutdown == "" {
		shutdown = vars["DRIFTD_SHUTDOWN_TIMEOUT"]
	}
	d, err := time.ParseDuration(shutdown)
	if err != nil || pod.Spec.TerminationGracePeriodSeconds == nil || time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second <= d {
		t.Errorf("%s: terminationGracePeriodSeconds %v is not longer than DRIFTD_SHUTDOWN_TIMEOUT %s", sts.Name, pod.Spec.TerminationGracePeriodSeconds, shutdown)
	}

	// Memory: requested, limited, and GOMEMLIMIT the configured share of the limit.
	limit, hasLimit := c.Resources.Limits[corev1.ResourceMemory]
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		t.Errorf("%s: no memory request", sts.Name)
	}
	ratio, _ := strconv.ParseFloat(m.str("goMemLimitRatio"), 64)
	if hasLimit && ratio > 0 {
		want := int64(float64(limit.Value()) * ratio)
		got, err := strconv.ParseInt(env["GOMEMLIMIT"], 10, 64)
		if err != nil || got < want-1 || got > want+1 {
			t.Errorf("%s: GOMEMLIMIT %q, want %d (%.2f × %s)", sts.Name, env["GOMEMLIMIT"], want, ratio, limit.String())
		}
	}

	// The PodDisruptionBudget covers exactly these pods.
	if m.value("podDisruptionBudget", "enabled") == true {
		n := 0
		for _, pdb := range m.pdbs {
			s, err := metaSelector(pdb.Spec.Selector.MatchLabels)
			if err == nil && s.Matches(labels.Set(pod.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", sts.Name, n)
		}
	}
	// The governing Service exists and is headless.
	if svc := m.service(sts.Spec.ServiceName); svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s: serviceName %q is not a headless Service of the chart", sts.Name, sts.Spec.ServiceName)
	}
	if sa := pod.Spec.ServiceAccountName; sa != "default" && !slices.ContainsFunc(m.serviceAccounts, func(s *corev1.ServiceAccount) bool { return s.Name == sa }) {
		t.Errorf("%s: service account %q is not rendered", sts.Name, sa)
	}
	return env
}

func metaSelector(ml map[string]string) (labels.Selector, error) {
	if len(ml) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return labels.SelectorFromSet(ml), nil
}

func (m manifests) service(name string) *corev1.Service {
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// resolveEnv gives the container's environment as the kubelet would for
// the pod podName: field references, Secret keys (which must come from a
// Secret the chart renders or one the values name), $(VAR) expansion.
// The volumes are materialised under a temporary directory (ConfigMaps
// the chart renders with their data, Secrets with placeholder content),
// and paths under their mount points are moved there; the directory is
// returned.
func resolveEnv(t *testing.T, m manifests, sts *appsv1.StatefulSet, podName string) (map[string]string, string) {
	t.Helper()
	c := sts.Spec.Template.Spec.Containers[0]
	root := t.TempDir()
	existingSecrets := []string{m.str("kafka", "sasl", "existingSecret"), m.str("kafka", "tls", "existingSecret"), m.str("web", "existingSecret")}
	mountOf := map[string]string{}
	secretPlaceholder := secretPlaceholders(t)
	for _, vm := range c.VolumeMounts {
		mountOf[vm.Name] = vm.MountPath
		if err := os.MkdirAll(filepath.Join(root, vm.MountPath), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(dir, name, content string) {
		p := filepath.Join(root, dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	configMap := func(dir, name string) {
		cm, ok := m.configMaps[name]
		if !ok {
			t.Fatalf("%s: volume from ConfigMap %q, which the chart does not render", sts.Name, name)
		}
		for k, v := range cm.Data {
			write(dir, k, v)
		}
	}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		dir, ok := mountOf[v.Name]
		if !ok {
			t.Errorf("%s: volume %s is not mounted", sts.Name, v.Name)
			continue
		}
		switch {
		case v.ConfigMap != nil:
			configMap(dir, v.ConfigMap.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ConfigMap == nil {
					t.Fatalf("%s: projected volume %s has a source other than a ConfigMap", sts.Name, v.Name)
				}
				if existing, _ := m.value("references", "existingConfigMaps").([]any); slices.Contains(existing, any(src.ConfigMap.Name)) {
					continue
				}
				configMap(dir, src.ConfigMap.Name)
			}
		case v.Secret != nil:
			if !slices.Contains(existingSecrets, v.Secret.SecretName) {
				t.Fatalf("%s: volume from Secret %q, which the values do not name", sts.Name, v.Secret.SecretName)
			}
			// Secrets hold what driftd reads at start: PEM certificates
			// and keys, a web configuration.
			for _, it := range v.Secret.Items {
				write(dir, it.Path, secretPlaceholder(it.Path))
			}
			if len(v.Secret.Items) == 0 {
				write(dir, m.str("web", "configKey"), "# placeholder web configuration\n{}\n")
			}
		default:
			t.Fatalf("%s: volume %s of an unexpected kind", sts.Name, v.Name)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s: %s is set twice", sts.Name, e.Name)
		}
		var val string
		switch {
		case e.ValueFrom == nil:
			val = varRef.ReplaceAllStringFunc(e.Value, func(ref string) string {
				if v, ok := env[ref[2:len(ref)-1]]; ok {
					return v
				}
				t.Errorf("%s: %s refers to %s, which is not defined before it", sts.Name, e.Name, ref)
				return ref
			})
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			val = podName
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if s, ok := m.secrets[ref.Name]; ok {
				v, ok := s.StringData[ref.Key]
				if !ok {
					t.Errorf("%s: %s from key %q, which Secret %s lacks", sts.Name, e.Name, ref.Key, ref.Name)
				}
				val = v
			} else if slices.Contains(existingSecrets, ref.Name) {
				val = "placeholder"
			} else {
				t.Errorf("%s: %s from Secret %q, which is neither rendered nor named in the values", sts.Name, e.Name, ref.Name)
			}
		default:
			t.Fatalf("%s: %s has an unexpected valueFrom %+v", sts.Name, e.Name, e.ValueFrom)
		}
		for _, dir := range mountOf {
			if strings.HasPrefix(val, dir+"/") || val == dir {
				val = filepath.Join(root, val)
			}
		}
		env[e.Name] = val
	}
	return env, root
}

// secretPlaceholders returns the content of a Secret item by its path: a
// PEM key (*.key) or certificate (anything else) of one self-signed pair,
// so that driftd's start-up checks of TLS files pass.
func secretPlaceholders(t *testing.T) func(path string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "placeholder"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return func(path string) string {
		if strings.HasSuffix(path, ".key") {
			return keyPEM
		}
		return certPEM
	}
}

// checkServices: the metrics Service selects the driftd pods and reaches
// their http port.
func checkServices(t *testing.T, m manifests) {
	t.Helper()
	var metrics *corev1.Service
	for _, s := range m.services {
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			metrics = s
		}
	}
	if metrics == nil {
		t.Fatal("no metrics Service")
	}
	sel, err := metaSelector(metrics.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, sts := range m.statefulSets {
		if !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
			t.Errorf("the metrics Service does not select the pods of %s", sts.Name)
		}
	}
	if len(metrics.Spec.Ports) != 1 || metrics.Spec.Ports[0].TargetPort.String() != "http" || metrics.Spec.Ports[0].Name != "http-metrics" {
		t.Errorf("metrics Service ports %+v", metrics.Spec.Ports)
	}
}

// checkOperatorObjects: the PrometheusRule carries
// deploy/prometheus/driftd-rules.yml unchanged, the ServiceMonitor scrapes
// the metrics Service under the job the rules select, and the dashboard
// ConfigMaps carry deploy/grafana/dashboards with the datasource uid set.
func checkOperatorObjects(t *testing.T, m manifests) {
	t.Helper()
	if on := m.value("prometheusRule", "enabled") == true; on != (len(m.rules) == 1) {
		t.Errorf("prometheusRule.enabled %v, %d PrometheusRules", on, len(m.rules))
	}
	if on := m.value("serviceMonitor", "enabled") == true; on != (len(m.serviceMonitors) == 1) {
		t.Errorf("serviceMonitor.enabled %v, %d ServiceMonitors", on, len(m.serviceMonitors))
	}
	var job string
	for _, sm := range m.serviceMonitors {
		sel, err := metaSelector(sm.Spec.Selector.MatchLabels)
		var metrics *corev1.Service
		for _, s := range m.services {
			if err == nil && s.Spec.ClusterIP != corev1.ClusterIPNone && sel.Matches(labels.Set(s.Labels)) {
				metrics = s
			}
		}
		if metrics == nil || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != metrics.Spec.Ports[0].Name {
			t.Errorf("the ServiceMonitor does not reach the metrics Service's port")
		}
		for _, r := range sm.Spec.Endpoints[0].RelabelConfigs {
			if r.TargetLabel == "job" && r.Replacement != nil {
				job = *r.Replacement
			}
		}
		if sch := sm.Spec.Endpoints[0].Scheme; sch == nil || !strings.EqualFold(string(*sch), m.str("web", "scheme")) {
			t.Errorf("ServiceMonitor scheme %v, web.scheme %s", sch, m.str("web", "scheme"))
		}
	}
	if len(m.rules) == 1 {
		data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/prometheus/driftd-rules.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(data, &file); err != nil {
			t.Fatal(err)
		}
		if len(file.Groups) == 0 || !reflect.DeepEqual(file.Groups, m.rules[0].Spec.Groups) {
			t.Errorf("the PrometheusRule's groups differ from deploy/prometheus/driftd-rules.yml")
		}
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				for _, sub := range regexp.MustCompile(`job="([^"]*)"`).FindAllStringSubmatch(r.Expr.String(), -1) {
					if len(m.serviceMonitors) == 1 && sub[1] != job {
						t.Errorf("rule %s selects job=%q, the ServiceMonitor scrapes as job=%q", r.Alert, sub[1], job)
					}
				}
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/grafana/dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	label, labelValue, uid := m.str("dashboards", "label"), m.str("dashboards", "labelValue"), m.str("dashboards", "datasourceUID")
	var found int
	for _, f := range files {
		name := filepath.Base(f)
		for _, cm := range m.configMaps {
			data, ok := cm.Data[name]
			if !ok {
				continue
			}
			found++
			if cm.Labels[label] != labelValue {
				t.Errorf("ConfigMap %s lacks the sidecar label %s=%q", cm.Name, label, labelValue)
			}
			orig, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(orig, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(data), &got); err != nil {
				t.Fatalf("ConfigMap %s: %s is not JSON: %v", cm.Name, name, err)
			}
			if n := setDatasourceUID(want, "driftd-prometheus", uid); n == 0 {
				t.Errorf("%s names no datasource uid driftd-prometheus", name)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("ConfigMap %s: %s differs from deploy/grafana/dashboards/%s beyond the datasource uid", cm.Name, name, name)
			}
			if setDatasourceUID(got, "driftd-prometheus", uid) != 0 {
				t.Errorf("ConfigMap %s: %s still names the compose stack's datasource", cm.Name, name)
			}
		}
	}
	if on := m.value("dashboards", "enabled") == true; on && found != len(files) || !on && found != 0 {
		t.Errorf("dashboards.enabled %v: %d of %d dashboards rendered", on, found, len(files))
	}
}

// setDatasourceUID replaces every "uid": from under a "datasource" object
// and counts the replacements.
func setDatasourceUID(v any, from, to string) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if ds, ok := c.(map[string]any); ok && k == "datasource" && ds["uid"] == from {
				ds["uid"] = to
				n++
			}
			n += setDatasourceUID(c, from, to)
		}
	case []any:
		for _, c := range x {
			n += setDatasourceUID(c, from, to)
		}
	}
	return n
}

// TestProbesAnswer runs driftd with the environment the default chart
// gives it, against an embedded Kafka broker, and sends the chart's probe
// requests: liveness answers 200 at once, readiness 200 once the
// consumer group is joined — the paths are real and mean what the chart
// uses them for.
func TestProbesAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs driftd")
	}
	m := render(t, filepath.Join(chartDir, "ci", "default-values.yaml"))
	sts := m.statefulSets[0]
	env, _ := resolveEnv(t, m, sts, sts.Name+"-0")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "inference.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env["DRIFTD_BROKERS"] = cluster.ListenAddrs()[0]
	env["DRIFTD_HTTP_ADDR"] = addr // the chart's :9108 may be taken on this machine
	env["DRIFTD_TOPIC_REPLICATION"] = "1"
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cmd := exec.Command(driftdBin, sts.Spec.Template.Spec.Containers[0].Args...)
	cmd.Env = environ
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	c := sts.Spec.Template.Spec.Containers[0]
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for get(c.LivenessProbe.HTTPGet.Path) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("liveness %s never answered 200\n%s", c.LivenessProbe.HTTPGet.Path, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for get(c.ReadinessProbe.HTTPGet.Path) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("readiness %s never answered 200\n%s", c.ReadinessProbe.HTTPGet.Path, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := get("/no-such-path"); code != http.StatusNotFound {
		t.Errorf("an unknown path answers %d, so a 200 proves nothing", code)
	}
}
