package main

import (
	"encoding"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cmdConfig: `driftd config vars` lists every DRIFTD_* variable `driftd
// run` reads with its default; `driftd config check` reads the environment
// exactly as `driftd run` does (unknown variables, parsing, validation)
// and prints the configuration it would run with, without connecting to
// anything. Both print NAME=value lines, sorted, so the output of `vars`
// is an env file of the defaults.
func cmdConfig(args []string, stdout, stderr io.Writer) error {
	const configUsage = "usage: driftd config <subcommand>\n\nSubcommands:\n  vars     every DRIFTD_* variable with its default\n  check    validate the DRIFTD_* environment and print the effective configuration\n"
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return usagef("config: want a subcommand: vars or check")
	}
	fs := newFlagSet("config "+args[0], stderr)
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return nil
	case "vars":
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: driftd config vars\n\nEvery DRIFTD_* variable of `driftd run` with its default, as NAME=value lines.")
		}
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		return printConfig(stdout, defaultConfig())
	case "check":
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: driftd config check\n\nReads the DRIFTD_* environment like `driftd run` (exit 2 naming the variable on an error)\nand prints the effective configuration as NAME=value lines (passwords redacted).")
		}
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		cfg, err := loadConfig(os.Environ())
		if err != nil {
			return err
		}
		return printConfig(stdout, cfg)
	default:
		return usagef("config: unknown subcommand %q (want vars or check)", args[0])
	}
}

func printConfig(w io.Writer, cfg config) error {
	vars, err := configValues(cfg)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := vars[k]
		if v != "" && isSecretVar(k) {
			v = "<redacted>"
		}
		fmt.Fprintf(w, "%s=%s\n", k, v)
	}
	return nil
}

func isSecretVar(key string) bool {
	return strings.HasSuffix(key, "_PASSWORD") || strings.HasSuffix(key, "_SECRET") || strings.HasSuffix(key, "_TOKEN")
}

// configValues renders every variable of cfg in the form driftd parses
// (durations like 45s, lists comma-separated). It walks the struct the
// way caarlos0/env does (envPrefix on nested structs, env on fields) and
// fails when its keys differ from the ones env reports or a field has a
// type it cannot render, so a new setting cannot be left out silently.
func configValues(cfg config) (map[string]string, error) {
	vars := map[string]string{}
	if err := walkEnv(reflect.ValueOf(cfg), "", vars); err != nil {
		return nil, err
	}
	want := envKeys()
	if len(want) != len(vars) {
		return nil, fmt.Errorf("config: rendered %d variables, the configuration has %d", len(vars), len(want))
	}
	for _, k := range want {
		if _, ok := vars[k]; !ok {
			return nil, fmt.Errorf("config: %s is not rendered", k)
		}
	}
	return vars, nil
}

func walkEnv(v reflect.Value, prefix string, out map[string]string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if p, ok := f.Tag.Lookup("envPrefix"); ok && f.Type.Kind() == reflect.Struct {
			if err := walkEnv(fv, prefix+p, out); err != nil {
				return err
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		sep := f.Tag.Get("envSeparator")
		if sep == "" {
			sep = ","
		}
		s, err := envString(fv, sep)
		if err != nil {
			return fmt.Errorf("config: %s%s: %w", prefix, name, err)
		}
		out[prefix+name] = s
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// envString renders one value the way caarlos0/env parses it back.
func envString(v reflect.Value, sep string) (string, error) {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String(), nil
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		return string(b), err
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), nil
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			s, err := envString(v.Index(i), sep)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, sep), nil
	}
	return "", fmt.Errorf("cannot render a %s", v.Type())
}
