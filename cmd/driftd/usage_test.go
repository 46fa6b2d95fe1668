package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h and --help on every command and subcommand print
// its usage and exit 0.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"run", "--help"}, {"demo", "-h"}, {"reference", "--help"}, {"reference", "-h"},
		{"reference", "build", "--help"}, {"reference", "show", "-h"}, {"reference", "publish", "--help"},
		{"replay", "--help"}, {"report", "-h"}, {"bench", "--help"}, {"config", "--help"},
		{"config", "vars", "-h"}, {"config", "check", "--help"},
	} {
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d, want 0; stderr %q", args, code, stderr)
		}
		if !strings.Contains(strings.ToLower(stdout+stderr), "usage") {
			t.Errorf("%v: printed no usage:\n%s%s", args, stdout, stderr)
		}
		if strings.Contains(stderr, "help requested") {
			t.Errorf("%v: %q", args, stderr)
		}
	}
	// No subcommand is still bad usage.
	for _, args := range [][]string{{"reference"}, {"config"}, {"reference", "bogus"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestMissingInputFile: a file named on the command line that does not
// exist is bad usage (exit 2) in every command, and the message names the
// flag.
func TestMissingInputFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	ref := filepath.Join(dir, "ref.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", "testdata-not-needed.csv", "--model", "m"); code != 2 || !strings.Contains(stderr, "--input") {
		t.Errorf("reference build: exit %d, %q", code, stderr)
	}
	// A real reference, to test the missing events file on its own.
	csv := filepath.Join(dir, "train.csv")
	writeFile(t, csv, "x\n1\n2\n3\n")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", csv, "--model", "m", "--out", ref, "--quiet"); code != 0 {
		t.Fatalf("reference build: exit %d: %s", code, stderr)
	}
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"reference", "build", "--input", missing + ".csv", "--model", "m"}, "--input"},
		{[]string{"reference", "build", "--input", missing + ".jsonl", "--model", "m"}, "--input"},
		{[]string{"reference", "show", "--reference", missing}, "--reference"},
		{[]string{"reference", "publish", "--reference", missing, "--brokers", "127.0.0.1:1"}, "--reference"},
		{[]string{"replay", "--reference", missing, "--input", csv}, "--reference"},
		{[]string{"replay", "--reference", ref, "--input", missing}, "--input"},
		{[]string{"report", "--reference", missing, "--input", csv, "--out", filepath.Join(dir, "r.html")}, "--reference"},
		{[]string{"report", "--reference", ref, "--input", missing, "--out", filepath.Join(dir, "r.html")}, "--input"},
	} {
		code, _, stderr := runCmd(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.flag+": ") || !strings.Contains(stderr, "no such file") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", c.args, code, stderr, c.flag)
		}
	}
}

// TestDemoHTTPAddrNamesTheFlag: a busy or invalid --http-addr is blamed
// on the flag, not on DRIFTD_HTTP_ADDR, which the demo does not read.
func TestDemoHTTPAddrNamesTheFlag(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, addr := range []string{l.Addr().String(), ":99999"} {
		code, _, stderr := runCmd(t, "demo", "--duration", "20s", "--http-addr", addr)
		if code != 2 || !strings.Contains(stderr, "--http-addr") || strings.Contains(stderr, "DRIFTD_") {
			t.Errorf("--http-addr %s: exit %d, stderr %q", addr, code, stderr)
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
