package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// specimen returns the text of one of licensecheck's test licences (its
// testdata files start with a header ended by a blank line).
func specimen(t *testing.T, name string) string {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/licensecheck").Output()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(data), "\n\n")
	if !ok {
		t.Fatalf("%s: no header", name)
	}
	return body
}

// TestCheck: allowed licences pass; copyleft, server-side copyleft,
// unrecognised text and a missing licence file fail, naming the module
// and the file.
func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string // in the problem; "" = no problem
	}{
		// 1. MIT: permissive.
		{"mit", map[string]string{"LICENSE": specimen(t, "MIT.t1")}, ""},
		// 2. Apache-2.0 code with a CC-BY-SA documentation licence beside
		// it (as opencontainers/go-digest has): the docs one is not checked.
		{"apache+docs", map[string]string{"LICENSE": specimen(t, "Apache-2.0.t1"), "LICENSE.docs": specimen(t, "CC-BY-SA-4.0.t1")}, ""},
		// 3. GPL-3.0: the whole program would have to be GPL.
		{"gpl", map[string]string{"COPYING": specimen(t, "GPL-3.0.t1")}, "GPL-3.0 is not allowed"},
		// 4. AGPL-3.0: reaches programs used over a network.
		{"agpl", map[string]string{"LICENSE.md": specimen(t, "AGPL-3.0.t1")}, "AGPL-3.0 is not allowed"},
		// 5. SSPL, the same for services.
		{"sspl", map[string]string{"LICENSE": specimen(t, "SSPL-1.0.t1")}, "SSPL-1.0 is not allowed"},
		// 6. A dual-licence file where one part is not allowed fails.
		{"mit+gpl", map[string]string{"LICENSE": specimen(t, "MIT.t1") + "\n\n" + specimen(t, "GPL-3.0.t1")}, "GPL-3.0 is not allowed"},
		// 7. Text no classifier recognises (a source-available licence
		// written for one project, say).
		{"unknown", map[string]string{"LICENSE": "Copyright 2026 Someone. You may read this code but not use it in production.\n"}, "not recognised"},
		// 8. No licence at all: all rights reserved.
		{"none", map[string]string{"README.md": "hello\n"}, "no licence file"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		for name, text := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m := module{Path: "example.com/" + tc.name, Version: "v1.0.0", Dir: dir}
		if err := readModule(&m); err != nil {
			t.Fatal(err)
		}
		problems := check(m)
		switch {
		case tc.want == "" && len(problems) > 0:
			t.Errorf("%s: unexpected problems %v", tc.name, problems)
		case tc.want != "" && (len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), tc.want)):
			t.Errorf("%s: problems %v, want one containing %q", tc.name, problems, tc.want)
		case tc.want != "" && !strings.Contains(problems[0], m.Path):
			t.Errorf("%s: problem %q does not name the module", tc.name, problems[0])
		}
	}
}
