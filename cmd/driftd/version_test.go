package main

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// TestResolveBuild: link-time stamps win; without them the toolchain's
// build information is used; without that, "(devel)" and "unknown".
func TestResolveBuild(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/driftd/driftd", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	cases := []struct {
		name           string
		version, commt string
		info           *debug.BuildInfo
		wantVersion    string
		wantCommit     string
		wantShort      string
	}{
		// 1. make build / docker build: both stamps, nothing else looked at.
		{"stamped", "v0.1.0-3-g3094090-dirty", "309409082726ae5d28104aedbd5d66bbb00f4c61", vcs("ffffffffffffffffffffffffffffffffffffffff", "false"),
			"v0.1.0-3-g3094090-dirty", "309409082726ae5d28104aedbd5d66bbb00f4c61", "309409082726"},
		// 2. go build in a git checkout: the toolchain records the revision
		// and whether the tree was modified; the module version is (devel)
		// without a tag.
		{"go build, dirty tree", "", "", vcs("309409082726ae5d28104aedbd5d66bbb00f4c61", "true"),
			"(devel)", "309409082726ae5d28104aedbd5d66bbb00f4c61-dirty", "309409082726-dirty"},
		// 3. go install github.com/driftd/driftd/cmd/driftd@v0.1.0: the
		// module version, no VCS information.
		{"go install @version", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/driftd/driftd", Version: "v0.1.0"}},
			"v0.1.0", "unknown", "unknown"},
		// 4. No build information at all.
		{"nothing", "", "", nil, "(devel)", "unknown", "unknown"},
		// 5. Only a version stamped: the commit still comes from VCS.
		{"version stamp only", "v0.2.0", "", vcs("0123456789abcdef0123456789abcdef01234567", "false"),
			"v0.2.0", "0123456789abcdef0123456789abcdef01234567", "0123456789ab"},
	}
	for _, tc := range cases {
		b := resolveBuild(tc.version, tc.commt, tc.info)
		if b.Version != tc.wantVersion || b.Commit != tc.wantCommit || b.ShortCommit() != tc.wantShort {
			t.Errorf("%s: got version %q commit %q short %q, want %q %q %q", tc.name, b.Version, b.Commit, b.ShortCommit(),
				tc.wantVersion, tc.wantCommit, tc.wantShort)
		}
		if b.GoVersion == "" || !strings.Contains(b.String(), b.Version) || !strings.Contains(b.String(), b.Commit) {
			t.Errorf("%s: String() = %q", tc.name, b.String())
		}
	}
}

// TestBuildInfoMetric: driftd_build_info carries the stamped version and
// commit.
func TestBuildInfoMetric(t *testing.T) {
	defer func(v, c string) { buildVersion, buildCommit = v, c }(buildVersion, buildCommit)
	buildVersion, buildCommit = "v9.8.7-test", "0123456789abcdef0123456789abcdef01234567"
	cfg := defaultConfig()
	cfg.Window = cfg.Window.WithDefaults() // as validate does: the hop from the size
	d, err := newDaemon(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := d.gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "driftd_build_info" {
			continue
		}
		got := map[string]string{}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["version"] != buildVersion || got["revision"] != buildCommit || !strings.HasPrefix(got["goversion"], "go") {
			t.Fatalf("driftd_build_info labels %v", got)
		}
		return
	}
	t.Fatal("no driftd_build_info")
}

// TestStampedBuild builds driftd with the -ldflags of the Dockerfile (and
// checks the Makefile passes the same ones), then runs `driftd version`.
func TestStampedBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	dm := regexp.MustCompile(`-ldflags="([^"]+)"`).FindSubmatch(dockerfile)
	mm := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.+)$`).FindSubmatch(makefile)
	if dm == nil || mm == nil {
		t.Fatalf("no -ldflags in the Dockerfile (%v) or LDFLAGS in the Makefile (%v)", dm != nil, mm != nil)
	}
	dockerFlags := strings.NewReplacer("${VERSION}", "{V}", "${COMMIT}", "{C}").Replace(string(dm[1]))
	makeFlags := strings.NewReplacer("$(VERSION)", "{V}", "$(COMMIT)", "{C}").Replace(strings.TrimSpace(string(mm[1])))
	if dockerFlags != makeFlags {
		t.Errorf("the Dockerfile stamps %q, the Makefile %q", dockerFlags, makeFlags)
	}
	for _, label := range []string{`org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${COMMIT}"`} {
		if !strings.Contains(string(dockerfile), label) {
			t.Errorf("the Dockerfile lacks the label %s", label)
		}
	}
	const v, c = "v1.2.3-4-gabcdef0-dirty", "abcdef0123456789abcdef0123456789abcdef01"
	ldflags := strings.NewReplacer("{V}", v, "{C}", c).Replace(dockerFlags)
	bin := filepath.Join(t.TempDir(), "driftd")
	if out, err := exec.Command("go", "build", "-ldflags="+ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags=%q: %v\n%s", ldflags, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("driftd version: %v\n%s", err, out)
	}
	if want := "driftd " + v + " (commit " + c + ", go"; !strings.HasPrefix(string(out), want) {
		t.Fatalf("driftd version printed %q, want it to start with %q", out, want)
	}
}
