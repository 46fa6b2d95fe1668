package main

// Checks of docker-compose.yml against driftd itself, without Docker: the
// file is loaded and normalised with compose-go (the library of `docker
// compose`), then compared with envKeys(), the topics stream.Config needs,
// and the Prometheus and Grafana files it mounts.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v2"

	"github.com/driftd/driftd/stream"
)

// repoRoot is the module root (the tests run in cmd/driftd).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	return root
}

// loadCompose loads docker-compose.yml the way `docker compose config`
// does (interpolation, normalisation, consistency checks, relative paths
// resolved against the repository root), with an empty environment so
// the result does not depend on the shell running the test.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func composeService(t *testing.T, p *types.Project, names ...string) types.ServiceConfig {
	t.Helper()
	for _, n := range names {
		if s, ok := p.Services[n]; ok {
			return s
		}
	}
	t.Fatalf("docker-compose.yml has no service %s (services: %v)", strings.Join(names, " or "), p.ServiceNames())
	return types.ServiceConfig{}
}

// serviceEnv is a service's environment in os.Environ form.
func serviceEnv(s types.ServiceConfig) []string {
	var env []string
	for k, v := range s.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	slices.Sort(env)
	return env
}

// hostPath maps a path inside a service's container to the host path of
// the bind mount that provides it.
func hostPath(s types.ServiceConfig, containerPath string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if containerPath == v.Target {
			return v.Source, true
		}
		if rest, ok := strings.CutPrefix(containerPath, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	for _, names := range [][]string{{"kafka"}, {"topic-init", "kafka-init"}, {"driftd"}, {"traffic"}, {"prometheus"}, {"grafana"}} {
		composeService(t, p, names...)
	}
	// Images are pinned: `docker compose up` months later must start the
	// same Kafka, Prometheus and Grafana.
	for name, s := range p.Services {
		if s.Build != nil {
			if s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("service %s builds from %q, want the top-level Dockerfile", name, s.Build.Dockerfile)
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
			if s.Build.Context != root {
				t.Errorf("service %s: build context %s, want the repository root %s", name, s.Build.Context, root)
			}
			continue
		}
		ref := s.Image
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			ref = ref[i+1:]
		}
		_, tag, ok := strings.Cut(ref, ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned to a version tag", name, s.Image)
		}
	}
	kafka := composeService(t, p, "kafka")
	if !strings.HasPrefix(kafka.Image, "apache/kafka:4.") {
		t.Errorf("kafka image %q, want the official apache/kafka 4.x", kafka.Image)
	}
	if kafka.HealthCheck == nil || len(kafka.HealthCheck.Test) == 0 {
		t.Error("kafka has no healthcheck: topic-init and driftd wait for service_healthy")
	}
	initSvc := composeService(t, p, "topic-init", "kafka-init")
	driftd := composeService(t, p, "driftd")
	traffic := composeService(t, p, "traffic")
	wantDep := func(s types.ServiceConfig, on, condition string) {
		t.Helper()
		d, ok := s.DependsOn[on]
		if !ok {
			t.Errorf("service %s does not depend on %s", s.Name, on)
			return
		}
		if d.Condition != condition {
			t.Errorf("service %s depends on %s with condition %q, want %q", s.Name, on, d.Condition, condition)
		}
	}
	wantDep(initSvc, "kafka", types.ServiceConditionHealthy)
	wantDep(driftd, "kafka", types.ServiceConditionHealthy)
	wantDep(driftd, initSvc.Name, types.ServiceConditionCompletedSuccessfully)
	wantDep(traffic, initSvc.Name, types.ServiceConditionCompletedSuccessfully)
	if driftd.Image == "" || driftd.Image != traffic.Image {
		t.Errorf("driftd (%q) and traffic (%q) should run the same image", driftd.Image, traffic.Image)
	}
	if got := []string(driftd.Command); !slices.Equal(got, []string{"run"}) {
		t.Errorf("driftd command %q, want [run]", got)
	}
	// Named volumes keep Kafka's log, the TSDB and Grafana's database.
	for _, want := range []struct{ service, target string }{
		{"kafka", "/var/lib/kafka/data"}, {"prometheus", "/prometheus"}, {"grafana", "/var/lib/grafana"},
	} {
		s := composeService(t, p, want.service)
		i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == want.target })
		switch {
		case i < 0:
			t.Errorf("service %s mounts nothing at %s", want.service, want.target)
		case s.Volumes[i].Type != types.VolumeTypeVolume:
			t.Errorf("service %s: %s is a %s mount, want a named volume", want.service, want.target, s.Volumes[i].Type)
		default:
			if _, ok := p.Volumes[s.Volumes[i].Source]; !ok {
				t.Errorf("service %s: volume %q is not declared under volumes:", want.service, s.Volumes[i].Source)
			}
		}
	}
}

func TestComposeDriftdPorts(t *testing.T) {
	p := loadCompose(t)
	driftd := composeService(t, p, "driftd")
	cfg, err := loadConfig(serviceEnv(driftd))
	if err != nil {
		t.Fatalf("driftd's environment in docker-compose.yml: %v", err)
	}
	_, port, err := net.SplitHostPort(cfg.Server.HTTPAddr)
	if err != nil {
		t.Fatalf("DRIFTD_HTTP_ADDR %q: %v", cfg.Server.HTTPAddr, err)
	}
	if port != "9108" {
		t.Errorf("driftd listens on %s, want 9108", cfg.Server.HTTPAddr)
	}
	found := false
	for _, pc := range driftd.Ports {
		if strconv.Itoa(int(pc.Target)) == port {
			found = true
			if pc.Published != "9108" {
				t.Errorf("driftd's port %d is published as %q, want 9108", pc.Target, pc.Published)
			}
		}
	}
	if !found {
		t.Errorf("driftd's ports %+v do not include its HTTP port %s", driftd.Ports, port)
	}
	for _, want := range []struct {
		service string
		port    uint32
	}{{"prometheus", 9090}, {"grafana", 3000}, {"kafka", 9092}} {
		s := composeService(t, p, want.service)
		if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == want.port }) {
			t.Errorf("service %s does not publish port %d", want.service, want.port)
		}
	}
}

// Every file or folder mounted from the repository must exist (a typo
// would make Docker create an empty directory in its place).
func TestComposeMounts(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	binds := 0
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			binds++
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("service %s mounts %s, outside the repository", name, v.Source)
				continue
			}
			if !strings.HasPrefix(filepath.ToSlash(rel), "deploy/") {
				t.Errorf("service %s mounts %s; mounted configuration belongs under deploy/", name, rel)
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts ./%s at %s: %v", name, filepath.ToSlash(rel), v.Target, err)
			}
			if !v.ReadOnly {
				t.Errorf("service %s mounts ./%s read-write; configuration mounts should be :ro", name, filepath.ToSlash(rel))
			}
		}
	}
	if binds == 0 {
		t.Fatal("no bind mounts found: the Prometheus and Grafana configuration is not mounted")
	}
}

// Every DRIFTD_* variable set in docker-compose.yml is one driftd reads
// (driftd rejects unknown DRIFTD_ variables at start), and driftd's
// environment is a valid configuration.
func TestComposeEnvironment(t *testing.T) {
	p := loadCompose(t)
	known := envKeys()
	for name, s := range p.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "DRIFTD_") && !slices.Contains(known, k) {
				t.Errorf("service %s sets %s, which driftd does not read", name, k)
			}
		}
	}
	driftd := composeService(t, p, "driftd")
	cfg, err := loadConfig(serviceEnv(driftd))
	if err != nil {
		t.Fatalf("driftd's environment in docker-compose.yml: %v", err)
	}
	if cfg.Stream.CreateTopics {
		t.Error("driftd should run with DRIFTD_CREATE_TOPICS=false: topic-init creates the topics with their settings")
	}
	// Containers must reach Kafka through its internal listener.
	internal := kafkaInternalListeners(t, p)
	for _, b := range cfg.Stream.Brokers {
		if !slices.Contains(internal, b) {
			t.Errorf("DRIFTD_BROKERS has %s; kafka advertises %v to the other containers", b, internal)
		}
	}
	traffic := composeService(t, p, "traffic")
	args := []string(traffic.Command)
	if len(args) == 0 || args[0] != "demo" || !slices.Contains(args, "--produce-only") || !slices.Contains(args, "--loop") {
		t.Errorf("traffic runs %q, want demo --brokers ... --produce-only --loop", args)
	}
	if b := flagValue(args, "--brokers"); b == "" {
		t.Error("traffic has no --brokers")
	} else {
		for _, addr := range splitList(b) {
			if !slices.Contains(internal, addr) {
				t.Errorf("traffic produces to %s; kafka advertises %v to the other containers", addr, internal)
			}
		}
	}
	topic := flagValue(args, "--topic")
	if topic == "" {
		topic = "inference.events" // the demo's default
	}
	if !slices.Contains(cfg.Stream.InputTopics, topic) {
		t.Errorf("traffic produces to %s, driftd reads %v", topic, cfg.Stream.InputTopics)
	}
}

// kafkaInternalListeners returns the advertised host:port addresses of
// the kafka service that other containers can use (host = a name on the
// compose network, not localhost).
func kafkaInternalListeners(t *testing.T, p *types.Project) []string {
	t.Helper()
	kafka := composeService(t, p, "kafka")
	v := kafka.Environment["KAFKA_ADVERTISED_LISTENERS"]
	if v == nil {
		t.Fatal("kafka has no KAFKA_ADVERTISED_LISTENERS")
	}
	var out []string
	for _, l := range strings.Split(*v, ",") {
		_, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			t.Fatalf("KAFKA_ADVERTISED_LISTENERS: bad listener %q", l)
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("KAFKA_ADVERTISED_LISTENERS: %v", err)
		}
		if host == kafka.Name || host == kafka.Hostname {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		t.Fatalf("kafka advertises no listener for the compose network: %s", *v)
	}
	return out
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// createdTopic is one kafka-topics.sh --create in the init service.
type createdTopic struct {
	partitions int // 0: not given
	compacted  bool
	bootstrap  string
}

// initTopics parses the kafka-topics.sh --create invocations of the topic
// init service's script.
func initTopics(t *testing.T, s types.ServiceConfig) map[string]createdTopic {
	t.Helper()
	script := strings.Join(append(append([]string{}, s.Entrypoint...), s.Command...), "\n")
	topics := map[string]createdTopic{}
	for _, line := range strings.FieldsFunc(script, func(r rune) bool { return r == '\n' || r == ';' }) {
		for _, cmd := range strings.Split(line, "&&") {
			args := strings.Fields(cmd)
			if len(args) == 0 || !strings.HasSuffix(args[0], "kafka-topics.sh") || !slices.Contains(args, "--create") {
				continue
			}
			name := flagValue(args, "--topic")
			if name == "" {
				t.Fatalf("%s: kafka-topics.sh --create without --topic: %s", s.Name, cmd)
			}
			ct := createdTopic{bootstrap: flagValue(args, "--bootstrap-server")}
			if v := flagValue(args, "--partitions"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%s: topic %s: --partitions %q", s.Name, name, v)
				}
				ct.partitions = n
			}
			for i, a := range args {
				if a == "--config" && i+1 < len(args) && args[i+1] == "cleanup.policy=compact" {
					ct.compacted = true
				}
			}
			if _, dup := topics[name]; dup {
				t.Errorf("%s creates topic %s twice", s.Name, name)
			}
			topics[name] = ct
		}
	}
	if len(topics) == 0 {
		t.Fatalf("service %s runs no kafka-topics.sh --create: %q", s.Name, script)
	}
	return topics
}

// The init service creates every topic driftd needs — in single and in
// two-stage mode — compacted exactly where driftd would compact it.
func TestComposeTopics(t *testing.T) {
	p := loadCompose(t)
	initSvc := composeService(t, p, "topic-init", "kafka-init")
	if !strings.HasPrefix(initSvc.Image, "apache/kafka:") {
		t.Errorf("topic-init image %q, want the apache/kafka image (it ships /opt/kafka/bin/kafka-topics.sh)", initSvc.Image)
	}
	created := initTopics(t, initSvc)
	internal := kafkaInternalListeners(t, p)
	for name, ct := range created {
		if !slices.Contains(internal, ct.bootstrap) {
			t.Errorf("topic %s is created through %q; kafka advertises %v to the other containers", name, ct.bootstrap, internal)
		}
	}
	cfg, err := loadConfig(serviceEnv(composeService(t, p, "driftd")))
	if err != nil {
		t.Fatal(err)
	}
	input := created[cfg.Stream.InputTopics[0]]
	for _, mode := range []string{stream.ModeSingle, stream.ModeStage1} {
		sc := cfg.Stream
		sc.Mode = mode
		for _, spec := range sc.Topics(int32(input.partitions)) {
			ct, ok := created[spec.Name]
			if !ok {
				t.Errorf("topic-init does not create %s (needed in %s mode; compacted: %v)", spec.Name, mode, spec.Compacted)
				continue
			}
			if ct.compacted != spec.Compacted {
				t.Errorf("topic %s: created compacted=%v, driftd needs compacted=%v", spec.Name, ct.compacted, spec.Compacted)
			}
			if spec.Partitions > 0 && ct.partitions != int(spec.Partitions) {
				t.Errorf("topic %s: created with %d partitions, driftd needs %d", spec.Name, ct.partitions, spec.Partitions)
			}
		}
	}
	if st := created[cfg.Stream.StateTopic]; st.partitions != input.partitions {
		t.Errorf("state topic %s has %d partitions, the input topic %d: state follows input partitions",
			cfg.Stream.StateTopic, st.partitions, input.partitions)
	}
}

// promConfig is the part of prometheus.yml the tests look at.
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName        string `yaml:"job_name"`
		ScrapeInterval string `yaml:"scrape_interval"`
		MetricsPath    string `yaml:"metrics_path"`
		StaticConfigs  []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// composePrometheusConfig returns the host path of the configuration the
// prometheus service runs with, and its parsed content.
func composePrometheusConfig(t *testing.T, p *types.Project) (string, promConfig) {
	t.Helper()
	prom := composeService(t, p, "prometheus")
	cfgPath := "/etc/prometheus/prometheus.yml" // the image's default
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = v
		}
	}
	host, ok := hostPath(prom, cfgPath)
	if !ok {
		t.Fatalf("prometheus runs with %s, which no bind mount provides", cfgPath)
	}
	data, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var pc promConfig
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	return host, pc
}

// Prometheus scrapes driftd under job "driftd" (the rules' DriftdDown
// selects on it) and loads rule files that exist.
func TestComposePrometheus(t *testing.T) {
	p := loadCompose(t)
	prom := composeService(t, p, "prometheus")
	host, pc := composePrometheusConfig(t, p)
	driftd := composeService(t, p, "driftd")
	cfg, err := loadConfig(serviceEnv(driftd))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(cfg.Server.HTTPAddr)
	want := net.JoinHostPort(driftd.Name, port)
	found := false
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName != "driftd" {
			continue
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job driftd scrapes %s, driftd serves /metrics", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, want) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("%s: no scrape job \"driftd\" with target %s", host, want)
	}
	if len(pc.RuleFiles) == 0 {
		t.Errorf("%s loads no rule files", host)
	}
	for _, rf := range pc.RuleFiles {
		if !filepath.IsAbs(rf) {
			rf = filepath.Join(filepath.Dir("/etc/prometheus/prometheus.yml"), rf)
		}
		hp, ok := hostPath(prom, rf)
		if !ok {
			t.Errorf("rule file %s is not provided by a bind mount of the prometheus service", rf)
			continue
		}
		if _, err := os.Stat(hp); err != nil {
			t.Errorf("rule file %s: %v", rf, err)
		}
	}
}

// Grafana's provisioning points at the compose Prometheus and at the
// folder where compose mounts the dashboards.
func TestComposeGrafana(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	g := composeService(t, p, "grafana")
	prov, ok := hostPath(g, "/etc/grafana/provisioning")
	if !ok {
		t.Fatal("grafana: nothing mounted at /etc/grafana/provisioning")
	}
	var ds struct {
		Datasources []struct {
			Name, Type, UID, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(prov, "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources: %+v, want one prometheus datasource", ds.Datasources)
	}
	promPort := "9090"
	if want := "http://" + net.JoinHostPort(composeService(t, p, "prometheus").Name, promPort); ds.Datasources[0].URL != want {
		t.Errorf("datasource url %q, want %q", ds.Datasources[0].URL, want)
	}
	var dp struct {
		Providers []struct {
			Name, Type string
			Options    struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(prov, "dashboards", "driftd.yml"), &dp)
	if len(dp.Providers) == 0 {
		t.Fatal("no dashboard providers")
	}
	for _, pr := range dp.Providers {
		if pr.Type != "file" {
			continue
		}
		hp, ok := hostPath(g, pr.Options.Path)
		if !ok {
			t.Errorf("dashboard provider %s reads %s, which no grafana mount provides", pr.Name, pr.Options.Path)
			continue
		}
		if want := filepath.Join(root, "deploy", "grafana", "dashboards"); hp != want {
			t.Errorf("dashboard provider %s reads %s = %s on the host, want %s", pr.Name, pr.Options.Path, hp, want)
		}
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != nil {
		hp, ok := hostPath(g, *home)
		if !ok {
			t.Errorf("home dashboard %s is not mounted", *home)
		} else if _, err := os.Stat(hp); err != nil {
			t.Errorf("home dashboard: %v", err)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
