package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/cloudevents"
	"github.com/driftd/driftd/stream/codec/confluent"
	"github.com/driftd/driftd/stream/codec/oip"
	"github.com/driftd/driftd/stream/codec/oipproto"
)

// formatsConfig configures the input formats beyond canonical and flat
// (DRIFTD_INPUT_FORMAT names them per topic). Each format lives in its own
// package under stream/codec; they are wired here only.
type formatsConfig struct {
	// TensorColumns names the columns of [batch, n] OIP input tensors.
	TensorColumns []string `env:"TENSOR_COLUMNS" envSeparator:","`
	// InputModel and InputModelVersion name the model of records that do
	// not name it themselves.
	InputModel        string `env:"INPUT_MODEL"`
	InputModelVersion string `env:"INPUT_MODEL_VERSION"`
	// TopicPattern tells request from response topics of OIP Protobuf
	// and names the model.
	TopicPattern string `env:"OIP_TOPIC_PATTERN"`
	// CloudEvents attributes naming the model and its version.
	CEModelAttribute   string `env:"CLOUDEVENTS_MODEL_ATTRIBUTE"`
	CEVersionAttribute string `env:"CLOUDEVENTS_VERSION_ATTRIBUTE"`
	// Registry is the Confluent Schema Registry of the confluent format.
	Registry registryConfig `envPrefix:"SCHEMA_REGISTRY_"`
	// EventTimeField is the field of a Schema Registry record that holds
	// the event time.
	EventTimeField string `env:"EVENT_TIME_FIELD"`
}

// registryConfig locates and authenticates to a Schema Registry.
type registryConfig struct {
	URLs     []string `env:"URL" envSeparator:","`
	Username string   `env:"USERNAME"`
	Password string   `env:"PASSWORD"`
	CAFile   string   `env:"CA_FILE"`
	CertFile string   `env:"CERT_FILE"`
	KeyFile  string   `env:"KEY_FILE"`
}

// client returns a registry client, or nil when no URL is set.
func (r registryConfig) client() (*sr.Client, error) {
	if len(r.URLs) == 0 {
		return nil, nil
	}
	opts := []sr.ClientOpt{sr.URLs(slices.Clone(r.URLs)...) /* sr.URLs rewrites its argument in place */, sr.UserAgent("driftd/" + version())}
	if r.Username != "" {
		opts = append(opts, sr.BasicAuth(r.Username, r.Password))
	}
	if r.CAFile != "" || r.CertFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if r.CAFile != "" {
			pem, err := os.ReadFile(r.CAFile)
			if err != nil {
				return nil, usagef("DRIFTD_SCHEMA_REGISTRY_CA_FILE: %v; accepted: a readable PEM file of CA certificates", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, usagef("DRIFTD_SCHEMA_REGISTRY_CA_FILE: no PEM certificate in %s; accepted: a readable PEM file of CA certificates", r.CAFile)
			}
		}
		if (r.CertFile == "") != (r.KeyFile == "") {
			return nil, usagef("DRIFTD_SCHEMA_REGISTRY_CERT_FILE: and DRIFTD_SCHEMA_REGISTRY_KEY_FILE must be set together; accepted: both (mutual TLS) or neither")
		}
		if r.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
			if err != nil {
				return nil, usagef("DRIFTD_SCHEMA_REGISTRY_CERT_FILE: %v; accepted: a PEM certificate with DRIFTD_SCHEMA_REGISTRY_KEY_FILE its key", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, sr.DialTLSConfig(cfg))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, usagef("DRIFTD_SCHEMA_REGISTRY_URL: %v; accepted: comma-separated http:// or https:// URLs", err)
	}
	return cl, nil
}

// inputFormats returns the non-built-in formats by name.
func (c formatsConfig) inputFormats() map[string]codec.NewRecordDecoder {
	oipCfg := oip.Config{Columns: c.TensorColumns, Model: c.InputModel, Version: c.InputModelVersion}
	formats := map[string]codec.NewRecordDecoder{
		"oip":         oip.New(oipCfg),
		"cloudevents": cloudevents.New(cloudevents.Config{ModelAttribute: c.CEModelAttribute, VersionAttribute: c.CEVersionAttribute, OIP: oipCfg}),
	}
	// The pattern is checked by validate; an invalid one leaves the
	// format out here, and validate names the variable.
	if cl, err := c.Registry.client(); err == nil && cl != nil {
		if mk, err := confluent.New(confluent.Config{Client: cl, TimeField: c.EventTimeField, Model: c.InputModel, Version: c.InputModelVersion}); err == nil {
			formats["confluent"] = mk
		}
	}
	if mk, err := oipproto.New(oipproto.Config{TopicPattern: c.TopicPattern, Columns: c.TensorColumns, Model: c.InputModel, Version: c.InputModelVersion}); err == nil {
		formats["oip-protobuf"] = mk
	}
	return formats
}

// formatNames lists every format DRIFTD_INPUT_FORMAT accepts.
func formatNames() []string {
	return []string{string(codec.Canonical), string(codec.Flat), "cloudevents", "confluent", "oip", "oip-protobuf"}
}

// validate checks the format names of DRIFTD_INPUT_FORMAT (its syntax is
// checked by stream.Config.Validate).
func (c formatsConfig) validate(s stream.Config) error {
	def, perTopic, err := codec.ParseTopicFormats(s.InputFormat, s.InputTopics)
	if err != nil {
		return usagef("DRIFTD_INPUT_FORMAT: %v", err)
	}
	if _, err := oipproto.New(oipproto.Config{TopicPattern: c.TopicPattern}); err != nil {
		return usagef("DRIFTD_OIP_TOPIC_PATTERN: %v; accepted: a Go regular expression with a group (?P<kind>inputs|outputs) and optionally (?P<model>…)", err)
	}
	names := formatNames()
	for _, u := range c.Registry.URLs {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return usagef("DRIFTD_SCHEMA_REGISTRY_URL: %q is not a URL; accepted: comma-separated http:// or https:// URLs", u)
		}
	}
	if _, err := c.Registry.client(); err != nil {
		return err
	}
	check := func(name, where string) error {
		if !slices.Contains(names, name) {
			return usagef("DRIFTD_INPUT_FORMAT: unknown format %q%s; accepted: %s", name, where, strings.Join(names, ", "))
		}
		return nil
	}
	if err := check(def, ""); err != nil {
		return err
	}
	used := []string{def}
	for topic, name := range perTopic {
		if err := check(name, " for topic "+topic); err != nil {
			return err
		}
		used = append(used, name)
	}
	if slices.Contains(used, "confluent") && len(c.Registry.URLs) == 0 {
		return usagef("DRIFTD_SCHEMA_REGISTRY_URL: must be set for DRIFTD_INPUT_FORMAT confluent")
	}
	for _, col := range c.TensorColumns {
		if strings.TrimSpace(col) == "" {
			return usagef("DRIFTD_TENSOR_COLUMNS: has an empty column name; accepted: comma-separated feature names")
		}
	}
	for _, v := range []struct{ name, value string }{{"DRIFTD_INPUT_MODEL", c.InputModel}, {"DRIFTD_INPUT_MODEL_VERSION", c.InputModelVersion}} {
		if len(v.value) > detector.MaxNameLen || strings.ContainsAny(v.value, "/\x00\n") || !utf8.ValidString(v.value) {
			return usagef("%s: is %q; accepted: UTF-8 of at most %d bytes without '/', NUL or a newline (empty: none)", v.name, v.value, detector.MaxNameLen)
		}
	}
	// CloudEvents attribute names are lower-case ASCII letters and digits
	// (CloudEvents 1.0, "Attribute Naming Convention").
	for _, v := range []struct {
		name, value string
		empty       bool
	}{{"DRIFTD_CLOUDEVENTS_MODEL_ATTRIBUTE", c.CEModelAttribute, true}, {"DRIFTD_CLOUDEVENTS_VERSION_ATTRIBUTE", c.CEVersionAttribute, true}} {
		if (v.value == "" && !v.empty) || strings.IndexFunc(v.value, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) >= 0 {
			return usagef("%s: is %q; accepted: a CloudEvents attribute name (lower-case letters a-z and digits)", v.name, v.value)
		}
	}
	if c.EventTimeField != "" && slices.Contains(strings.Split(c.EventTimeField, "."), "") {
		return usagef("DRIFTD_EVENT_TIME_FIELD: is %q; accepted: a field name, nested fields joined by dots (a.b)", c.EventTimeField)
	}
	r := c.Registry
	if len(r.URLs) == 0 {
		for _, v := range []struct{ name, value string }{{"DRIFTD_SCHEMA_REGISTRY_USERNAME", r.Username}, {"DRIFTD_SCHEMA_REGISTRY_PASSWORD", r.Password},
			{"DRIFTD_SCHEMA_REGISTRY_CA_FILE", r.CAFile}, {"DRIFTD_SCHEMA_REGISTRY_CERT_FILE", r.CertFile}, {"DRIFTD_SCHEMA_REGISTRY_KEY_FILE", r.KeyFile}} {
			if v.value != "" {
				return usagef("%s: is set but DRIFTD_SCHEMA_REGISTRY_URL is empty; accepted: empty, or set together with DRIFTD_SCHEMA_REGISTRY_URL", v.name)
			}
		}
	}
	if r.Password != "" && r.Username == "" {
		return usagef("DRIFTD_SCHEMA_REGISTRY_PASSWORD: is set without DRIFTD_SCHEMA_REGISTRY_USERNAME; accepted: both set (basic auth) or neither")
	}
	return nil
}
