package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicSpec is a topic driftd needs.
type TopicSpec struct {
	Name       string
	Partitions int32 // -1: broker default
	Compacted  bool
	// Input topics are never created by driftd: producers own them.
	Input bool
	// Configs are further topic settings at creation.
	Configs map[string]string
}

// Topics lists the topics of the configuration. The state topic gets as
// many partitions as the first input topic (state follows input
// partitions), or StatePartitions when set; inputPartitions is that count
// (0 when unknown).
func (c *Config) Topics(inputPartitions int32) []TopicSpec {
	var specs []TopicSpec
	for _, t := range c.InputTopics {
		specs = append(specs, TopicSpec{Name: t, Input: true})
	}
	state := c.StatePartitions
	if state == 0 {
		state = inputPartitions
	}
	if state <= 0 {
		state = c.TopicPartitions
	}
	specs = append(specs,
		TopicSpec{Name: c.AlertTopic, Partitions: c.TopicPartitions, Compacted: true},
		TopicSpec{Name: c.DLQTopic, Partitions: c.TopicPartitions},
		TopicSpec{Name: c.ReferenceTopic, Partitions: 1, Compacted: true},
		TopicSpec{Name: c.StateTopic, Partitions: state, Compacted: true,
			Configs: map[string]string{"max.message.bytes": strconv.Itoa(c.StateMaxMessageBytes)}},
	)
	if c.Mode != ModeSingle {
		specs = append(specs, TopicSpec{Name: c.PanesTopic, Partitions: c.TopicPartitions})
	}
	return specs
}

// EnsureTopics checks that every topic exists, creating missing ones when
// CreateTopics is set (compacted where the spec says so). Missing input
// topics are created too when creation is on — handy for a fresh cluster;
// otherwise they are reported. It returns the partition count of the
// first input topic.
func EnsureTopics(ctx context.Context, adm *kadm.Client, c *Config) (int32, error) {
	names := append([]string{}, c.InputTopics...)
	td, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("listing topics: %w", err)
	}
	var inputParts int32
	if len(c.InputTopics) > 0 {
		if d, ok := td[c.InputTopics[0]]; ok && d.Err == nil {
			inputParts = int32(len(d.Partitions))
		}
	}
	specs := c.Topics(inputParts)
	all := make([]string, 0, len(specs))
	for _, s := range specs {
		all = append(all, s.Name)
	}
	td, err = adm.ListTopics(ctx, all...)
	if err != nil {
		return 0, fmt.Errorf("listing topics: %w", err)
	}
	var missing []TopicSpec
	for _, s := range specs {
		d, ok := td[s.Name]
		if ok && d.Err == nil {
			continue
		}
		if ok && d.Err != nil && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return 0, fmt.Errorf("topic %s: %w", s.Name, d.Err)
		}
		missing = append(missing, s)
	}
	if len(missing) == 0 {
		return inputParts, nil
	}
	if !c.CreateTopics {
		var list []string
		for _, s := range missing {
			kind := ""
			if s.Compacted {
				kind = " (cleanup.policy=compact)"
			}
			list = append(list, s.Name+kind)
		}
		sort.Strings(list)
		return 0, fmt.Errorf("missing topics with DRIFTD_CREATE_TOPICS=false: %s — create them or allow creation", strings.Join(list, ", "))
	}
	for _, s := range missing {
		cfg := map[string]*string{}
		if s.Compacted {
			cfg["cleanup.policy"] = kadm.StringPtr("compact")
		}
		for k, v := range s.Configs {
			cfg[k] = kadm.StringPtr(v)
		}
		parts := s.Partitions
		if s.Input {
			parts = c.TopicPartitions
		}
		resp, err := adm.CreateTopic(ctx, parts, c.TopicReplication, cfg, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return 0, fmt.Errorf("creating topic %s: %w", s.Name, err)
		}
		if s.Name == c.firstInput() && inputParts == 0 {
			inputParts = resp.NumPartitions
		}
	}
	if inputParts == 0 && len(c.InputTopics) > 0 {
		if td, err := adm.ListTopics(ctx, c.InputTopics[0]); err == nil {
			inputParts = int32(len(td[c.InputTopics[0]].Partitions))
		}
	}
	return inputParts, nil
}

func (c *Config) firstInput() string {
	if len(c.InputTopics) == 0 {
		return ""
	}
	return c.InputTopics[0]
}

// State record sizes.
const (
	// DefaultStateMaxMessageBytes is the max.message.bytes of a state
	// topic driftd creates: 1 MiB, which every broker accepts.
	DefaultStateMaxMessageBytes = 1 << 20
	// MinStateMaxMessageBytes and MaxStateMaxMessageBytes bound the
	// setting and the effective value driftd works with.
	MinStateMaxMessageBytes = 64 << 10
	MaxStateMaxMessageBytes = 16 << 20
	// brokerDefaultMaxMessageBytes is Kafka's message.max.bytes default,
	// assumed when the topic's configuration cannot be read.
	brokerDefaultMaxMessageBytes = 1048588
)

// StateRecordLimit returns the largest record batch, in bytes, the state
// topic accepts: its effective max.message.bytes (a topic override or
// the broker's message.max.bytes), capped at MaxStateMaxMessageBytes.
// When the configuration cannot be read (no DescribeConfigs permission)
// it returns the broker default, 1 MiB, and the error to log; when the
// topic accepts less than MinStateMaxMessageBytes, 0 and the error.
func StateRecordLimit(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err == nil {
		var rc kadm.ResourceConfig
		if rc, err = rcs.On(topic, nil); err == nil {
			err = rc.Err
		}
		if err == nil {
			for _, c := range rc.Configs {
				if c.Key != "max.message.bytes" || c.Value == nil {
					continue
				}
				n, perr := strconv.Atoi(*c.Value)
				if perr != nil || n <= 0 {
					return brokerDefaultMaxMessageBytes, fmt.Errorf("state topic %s: max.message.bytes is %q", topic, *c.Value)
				}
				if n < MinStateMaxMessageBytes {
					return 0, fmt.Errorf("state topic %s: max.message.bytes is %d, less than the %d driftd needs; raise it (kafka-configs --alter --add-config max.message.bytes=1048576)", topic, n, MinStateMaxMessageBytes)
				}
				return min(n, MaxStateMaxMessageBytes), nil
			}
			err = errors.New("no max.message.bytes in its configuration")
		}
	}
	return brokerDefaultMaxMessageBytes, fmt.Errorf("reading max.message.bytes of state topic %s: %w", topic, err)
}
