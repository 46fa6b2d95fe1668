package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at link time by the Makefile and the Dockerfile:
//
//	go build -ldflags "-X main.buildVersion=$(git describe --tags --always --dirty) -X main.buildCommit=$(git rev-parse HEAD)"
//
// Unstamped builds (go run, go build, go install) fall back to what the Go
// toolchain recorded in the binary; see resolveBuild.
var (
	buildVersion string
	buildCommit  string
)

// build identifies the binary: what `driftd version` prints and the labels
// of driftd_build_info.
type build struct {
	Version   string // a release tag (v0.1.0), git describe output (v0.1.0-3-g3094090-dirty), a module version, or "(devel)"
	Commit    string // the full commit hash, with "-dirty" when the tree had changes, or "unknown"
	GoVersion string
	Platform  string // GOOS/GOARCH
}

// currentBuild is this binary's build.
func currentBuild() build {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return resolveBuild(buildVersion, buildCommit, info)
}

// resolveBuild prefers the link-time stamps and falls back to the build
// information the Go toolchain embeds: the module version (set by
// `go install module@version`, and from VCS tags by `go build` in a
// checkout) and the vcs.revision/vcs.modified settings (recorded by `go
// build` in a git checkout unless -buildvcs=false).
func resolveBuild(stampVersion, stampCommit string, info *debug.BuildInfo) build {
	b := build{Version: stampVersion, Commit: stampCommit, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var revision string
	var modified bool
	if info != nil {
		if info.GoVersion != "" {
			b.GoVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Version == "" && info.Main.Version != "" {
			b.Version = info.Main.Version
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" && revision != "" {
		b.Commit = revision
		if modified {
			b.Commit += "-dirty"
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// ShortCommit is the commit's first 12 hex digits (with "-dirty" kept).
func (b build) ShortCommit() string {
	hash, dirty, _ := strings.Cut(b.Commit, "-")
	if len(hash) > 12 {
		hash = hash[:12]
	}
	if dirty != "" {
		hash += "-" + dirty
	}
	return hash
}

// String is the one-line form `driftd version` prints.
func (b build) String() string {
	return fmt.Sprintf("%s (commit %s, %s, %s)", b.Version, b.Commit, b.GoVersion, b.Platform)
}

// version is the version and short commit, for logs and banners.
func version() string {
	b := currentBuild()
	return b.Version + " (" + b.ShortCommit() + ")"
}
