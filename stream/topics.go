package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
		TopicSpec{Name: c.StateTopic, Partitions: state, Compacted: true},
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
		var cfg map[string]*string
		if s.Compacted {
			cfg = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
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
