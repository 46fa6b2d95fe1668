// Command licenses lists the licences of the Go modules driftd is built
// and tested with, fails when one is not on the allowed list, and writes
// (or, by default, checks) the repository's THIRD_PARTY_LICENSES and
// NOTICE files, which ship with every binary and image.
//
//	cd .ci/licenses && go run . -root ../..          # check (CI)
//	cd .ci/licenses && go run . -root ../.. -write   # regenerate (make licenses)
//
// The module graph comes from `go list -deps -test ./...` in the root
// module (what the code and its tests import, not every module go.mod
// mentions), the licence texts from the module cache, and their
// classification from github.com/google/licensecheck (the classifier
// behind pkg.go.dev).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/licensecheck"
)

// allowed are the licences a module may carry: permissive ones, and
// MPL-2.0, whose copyleft is per file and does not reach driftd's code.
// GPL, LGPL (Go links statically), AGPL, SSPL, source-available and
// unrecognised licences fail the check.
var allowed = []string{"0BSD", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "ISC", "MIT", "MPL-2.0", "Unlicense", "Zlib"}

// minCoverage is the share of a licence file that must match known
// licence texts for it to count as recognised (pkg.go.dev uses 75%).
const minCoverage = 75

// licenceFile matches licence files at a module's root: LICENSE,
// LICENSE.md, LICENCE.txt, COPYING, LICENSE-MIT, LICENSE.libyaml, …
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying)([-._].*)?$`)

// docsLicence matches licence files that cover a module's documentation,
// not its code (e.g. LICENSE.docs, CC-BY-SA): listed, not checked.
var docsLicence = regexp.MustCompile(`(?i)\.docs$`)

var noticeFile = regexp.MustCompile(`(?i)^notice(\.txt|\.md)?$`)

// module is one module of the graph and what its root holds.
type module struct {
	Path, Version, Dir string
	InBinary           bool // compiled into driftd (cmd/driftd), not only into tests
	Licences           []licence
	Notice             string // the NOTICE file's text, if any
}

type licence struct {
	File     string
	Text     string
	IDs      []string // SPDX identifiers found, in order, without repeats
	Coverage float64
	Docs     bool
}

func main() {
	root := flag.String("root", ".", "the driftd repository (root module)")
	write := flag.Bool("write", false, "rewrite THIRD_PARTY_LICENSES and NOTICE instead of checking them")
	verbose := flag.Bool("v", false, "print every module with its licences")
	flag.Parse()
	if err := run(*root, *write, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "licenses:", err)
		os.Exit(1)
	}
}

func run(root string, write, verbose bool) error {
	mods, err := moduleGraph(root)
	if err != nil {
		return err
	}
	goroot, err := goEnv(root, "GOROOT")
	if err != nil {
		return err
	}
	stdlib, err := os.ReadFile(filepath.Join(goroot, "LICENSE"))
	if err != nil {
		return fmt.Errorf("the Go standard library's licence: %w", err)
	}
	var problems []string
	for i := range mods {
		if err := readModule(&mods[i]); err != nil {
			return err
		}
		problems = append(problems, check(mods[i])...)
	}
	for _, m := range mods {
		if !verbose {
			break
		}
		var ids []string
		for _, l := range m.Licences {
			ids = append(ids, l.IDs...)
		}
		fmt.Printf("%-50s %-40s %s\n", m.Path, m.Version, strings.Join(uniq(ids), ", "))
	}
	if len(problems) > 0 {
		return fmt.Errorf("licences not allowed or not recognised (allowed: %s):\n  %s",
			strings.Join(allowed, ", "), strings.Join(problems, "\n  "))
	}
	files := map[string]string{
		"THIRD_PARTY_LICENSES": thirdParty(mods, string(stdlib)),
		"NOTICE":               notice(mods),
	}
	var stale []string
	for _, name := range []string{"THIRD_PARTY_LICENSES", "NOTICE"} {
		path := filepath.Join(root, name)
		if write {
			if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
				return err
			}
			continue
		}
		have, err := os.ReadFile(path)
		if err != nil || string(have) != files[name] {
			stale = append(stale, name)
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("%s out of date with the module graph: run `make licenses` and commit the result", strings.Join(stale, " and "))
	}
	fmt.Printf("%d modules, all licences allowed; THIRD_PARTY_LICENSES and NOTICE up to date\n", len(mods))
	return nil
}

// moduleGraph lists the modules whose packages driftd's code and tests
// import, marking those compiled into the driftd binary.
func moduleGraph(root string) ([]module, error) {
	const format = `{{with .Module}}{{if not .Main}}{{.Path}}{{"\t"}}{{.Version}}{{"\t"}}{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}{{end}}{{end}}`
	all, err := goList(root, "-deps", "-test", "-f", format, "./...")
	if err != nil {
		return nil, err
	}
	bin, err := goList(root, "-deps", "-f", format, "./cmd/driftd")
	if err != nil {
		return nil, err
	}
	inBinary := map[string]bool{}
	for _, l := range bin {
		p, _, _ := strings.Cut(l, "\t")
		inBinary[p] = true
	}
	seen := map[string]bool{}
	var mods []module
	for _, l := range all {
		f := strings.Split(l, "\t")
		if len(f) != 3 || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		if f[2] == "" {
			return nil, fmt.Errorf("%s %s is not in the module cache (go mod download)", f[0], f[1])
		}
		mods = append(mods, module{Path: f[0], Version: f[1], Dir: f[2], InBinary: inBinary[f[0]]})
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path, b.Path) })
	return mods, nil
}

func goList(dir string, args ...string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

func goEnv(dir, key string) (string, error) {
	cmd := exec.Command("go", "env", key)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// readModule reads and classifies the licence and NOTICE files at the
// module's root.
func readModule(m *module) error {
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		switch {
		case licenceFile.MatchString(name):
			text, err := os.ReadFile(filepath.Join(m.Dir, name))
			if err != nil {
				return err
			}
			m.Licences = append(m.Licences, classify(name, text))
		case noticeFile.MatchString(name):
			text, err := os.ReadFile(filepath.Join(m.Dir, name))
			if err != nil {
				return err
			}
			m.Notice = string(text)
		}
	}
	return nil
}

func classify(name string, text []byte) licence {
	cov := licensecheck.Scan(text)
	l := licence{File: name, Text: string(text), Coverage: cov.Percent, Docs: docsLicence.MatchString(name)}
	for _, match := range cov.Match {
		l.IDs = append(l.IDs, match.ID)
	}
	l.IDs = uniq(l.IDs)
	return l
}

// check returns what is wrong with a module's licensing, if anything.
func check(m module) []string {
	var problems []string
	code := 0
	for _, l := range m.Licences {
		if l.Docs {
			continue
		}
		code++
		at := fmt.Sprintf("%s %s %s", m.Path, m.Version, l.File)
		if l.Coverage < minCoverage || len(l.IDs) == 0 {
			problems = append(problems, fmt.Sprintf("%s: not recognised (%.0f%% matches known licences %v)", at, l.Coverage, l.IDs))
			continue
		}
		for _, id := range l.IDs {
			if !slices.Contains(allowed, id) {
				problems = append(problems, fmt.Sprintf("%s: %s is not allowed", at, id))
			}
		}
	}
	if code == 0 {
		problems = append(problems, fmt.Sprintf("%s %s: no licence file at the module root", m.Path, m.Version))
	}
	return problems
}

func uniq(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

const rule = "================================================================================"

// thirdParty is THIRD_PARTY_LICENSES: a table of every module, then the
// licence texts of what the binary contains, identical texts once.
func thirdParty(mods []module, stdlib string) string {
	var b strings.Builder
	b.WriteString(`Third-party software in driftd

Generated by ` + "`make licenses`" + ` (.ci/licenses) from the Go module graph; CI fails
when this file is out of date or a module's licence is not one of:
` + strings.Join(allowed, ", ") + `.

driftd binaries and images contain the Go standard library and the modules
marked "binary"; the modules marked "tests" are used only by driftd's tests.
Their licence texts follow the table.

`)
	fmt.Fprintf(&b, "%-50s %-40s %-8s %s\n", "module", "version", "used in", "licence")
	fmt.Fprintf(&b, "%-50s %-40s %-8s %s\n", "Go standard library", "(as built)", "binary", "BSD-3-Clause")
	for _, m := range mods {
		var ids []string
		for _, l := range m.Licences {
			id := strings.Join(l.IDs, " AND ")
			if l.Docs {
				id += " (documentation)"
			}
			ids = append(ids, id)
		}
		use := "tests"
		if m.InBinary {
			use = "binary"
		}
		fmt.Fprintf(&b, "%-50s %-40s %-8s %s\n", m.Path, m.Version, use, strings.Join(ids, "; "))
	}
	type text struct {
		owners []string
		body   string
	}
	var texts []*text
	add := func(owner, body string) {
		for _, t := range texts {
			if t.body == body {
				t.owners = append(t.owners, owner)
				return
			}
		}
		texts = append(texts, &text{owners: []string{owner}, body: body})
	}
	add("Go standard library (LICENSE)", stdlib)
	for _, m := range mods {
		if !m.InBinary {
			continue
		}
		for _, l := range m.Licences {
			if !l.Docs {
				add(fmt.Sprintf("%s %s (%s)", m.Path, m.Version, l.File), l.Text)
			}
		}
	}
	for _, t := range texts {
		fmt.Fprintf(&b, "\n%s\n%s\n%s\n\n%s", rule, strings.Join(t.owners, "\n"), rule, t.body)
		if !strings.HasSuffix(t.body, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// notice is NOTICE: driftd's own notice and, as section 4(d) of the
// Apache License 2.0 asks, the NOTICE files of the Apache-2.0 modules
// compiled into the binary.
func notice(mods []module) string {
	var b strings.Builder
	b.WriteString(`driftd
Copyright 2026 The driftd Authors

Licensed under the Apache License, Version 2.0 (LICENSE). driftd includes
the Go standard library and third-party modules, listed with their licences
in THIRD_PARTY_LICENSES. The NOTICE files of those modules follow.
`)
	for _, m := range mods {
		if !m.InBinary || m.Notice == "" {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n%s %s (NOTICE)\n%s\n\n%s", rule, m.Path, m.Version, rule, m.Notice)
		if !strings.HasSuffix(m.Notice, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
