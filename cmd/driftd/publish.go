package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/stream"
)

// cmdReferencePublish publishes a reference file to the compacted
// reference topic, where running daemons pick it up without a restart.
// Publishing an older reference again rolls back.
func cmdReferencePublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reference publish", stderr)
	path := fs.String("reference", "", "reference `FILE` to publish")
	brokers := fs.String("brokers", "", "Kafka bootstrap servers (default: DRIFTD_BROKERS)")
	topic := fs.String("topic", "", "reference topic (default: DRIFTD_REFERENCE_TOPIC, drift.references)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("reference publish: --reference is required")
	}
	cfg, err := loadConfig(os.Environ())
	if err != nil {
		return err
	}
	if *brokers != "" {
		cfg.Stream.Brokers = splitList(*brokers)
	}
	if *topic != "" {
		cfg.Stream.ReferenceTopic = *topic
	}
	ref, err := loadReferenceFile(*path)
	if err != nil {
		return usagef("reference publish: --reference: %v", err)
	}
	opts, err := cfg.Stream.ClientOpts()
	if err != nil {
		return usagef("%v", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if cfg.Stream.CreateTopics {
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, cfg.Stream.TopicReplication,
			map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, cfg.Stream.ReferenceTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating %s: %w", cfg.Stream.ReferenceTopic, err)
		}
	}
	if err := stream.PublishReference(ctx, cl, cfg.Stream.ReferenceTopic, ref); err != nil {
		return fmt.Errorf("publishing to %s: %w", cfg.Stream.ReferenceTopic, err)
	}
	fmt.Fprintf(stdout, "published %s (%s) to %s\n", ref.Key(), ref.ID, cfg.Stream.ReferenceTopic)
	return nil
}
