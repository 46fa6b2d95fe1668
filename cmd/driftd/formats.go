package main

import (
	"slices"
	"strings"

	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/cloudevents"
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
	if mk, err := oipproto.New(oipproto.Config{TopicPattern: c.TopicPattern, Columns: c.TensorColumns, Model: c.InputModel, Version: c.InputModelVersion}); err == nil {
		formats["oip-protobuf"] = mk
	}
	return formats
}

// formatNames lists every format DRIFTD_INPUT_FORMAT accepts.
func (c formatsConfig) formatNames() []string {
	names := []string{string(codec.Canonical), string(codec.Flat)}
	var extra []string
	for n := range c.inputFormats() {
		extra = append(extra, n)
	}
	slices.Sort(extra)
	return append(names, extra...)
}

// validate checks the format names of DRIFTD_INPUT_FORMAT (its syntax is
// checked by stream.Config.Validate).
func (c formatsConfig) validate(s stream.Config) error {
	def, perTopic, err := codec.ParseTopicFormats(s.InputFormat, s.InputTopics)
	if err != nil {
		return usagef("DRIFTD_INPUT_FORMAT: %v", err)
	}
	if _, err := oipproto.New(oipproto.Config{TopicPattern: c.TopicPattern}); err != nil {
		return usagef("DRIFTD_OIP_TOPIC_PATTERN: %v", err)
	}
	names := c.formatNames()
	check := func(name, where string) error {
		if !slices.Contains(names, name) {
			return usagef("DRIFTD_INPUT_FORMAT: unknown format %q%s; accepted: %s", name, where, strings.Join(names, ", "))
		}
		return nil
	}
	if err := check(def, ""); err != nil {
		return err
	}
	for topic, name := range perTopic {
		if err := check(name, " for topic "+topic); err != nil {
			return err
		}
	}
	for _, col := range c.TensorColumns {
		if strings.TrimSpace(col) == "" {
			return usagef("DRIFTD_TENSOR_COLUMNS: has an empty column name")
		}
	}
	return nil
}
