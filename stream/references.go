package stream

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// LoadReferenceFiles reads references from paths: files, or directories
// whose *.json files are references. Every reference is validated.
func LoadReferenceFiles(paths []string) ([]*detector.Reference, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	var refs []*detector.Reference
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		ref, err := detector.ReadReference(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// ReferenceRecord returns the Kafka record that publishes ref on the
// compacted reference topic: key model/version, value the encoded
// reference.
func ReferenceRecord(topic string, ref *detector.Reference) (*kgo.Record, error) {
	data, err := ref.Encode()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(ref.Key()), Value: data}, nil
}

// ReferenceLoader follows the compacted reference topic and keeps the
// registry current: the latest record per model/version wins, so
// publishing an older reference again rolls back, and a tombstone (empty
// value) removes the model version. Invalid records are logged and
// counted, never applied.
type ReferenceLoader struct {
	Topic    string
	Registry *Registry
	Log      *slog.Logger
	// OnError is called for each rejected record (for metrics).
	OnError func()
}

// Run reads the topic from the beginning until ctx ends. loaded is closed
// once the records present at start have been applied.
//
// "Present at start" is decided by offsets: a partition is read once the
// position passes its last stable offset at start, counting transaction
// markers (a reference published by a transactional producer ends with
// one, committed or aborted) and an empty tail (records deleted up to the
// end), neither of which is a record to wait for.
func (l *ReferenceLoader) Run(ctx context.Context, opts []kgo.Opt, loaded chan<- struct{}) error {
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(l.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The end of what is committed: records of a transaction still open
	// are not present yet.
	ends, err := adm.ListCommittedOffsets(ctx, l.Topic)
	if err != nil {
		return fmt.Errorf("reference topic %s: %w", l.Topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, l.Topic)
	if err != nil {
		return fmt.Errorf("reference topic %s: %w", l.Topic, err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		if s, ok := starts.Lookup(l.Topic, o.Partition); ok && s.Err == nil && s.Offset >= o.Offset {
			return // empty: nothing, or everything deleted
		}
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	signal := func() {
		if loaded != nil {
			close(loaded)
			loaded = nil
		}
	}
	if len(pending) == 0 {
		signal()
	}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			l.Log.Warn("reading the reference topic", "topic", t, "partition", p, "err", err)
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if !r.Attrs.IsControl() {
					l.apply(r)
				}
				if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
					delete(pending, r.Partition)
				}
			}
			// The fetch reports where the partition's log starts: records
			// deleted past the end of what was present are done too.
			if end, ok := pending[p.Partition]; ok && p.LogStartOffset >= end {
				delete(pending, p.Partition)
			}
		})
		if len(pending) == 0 {
			signal()
		}
	}
}

func (l *ReferenceLoader) apply(r *kgo.Record) {
	key := string(r.Key)
	if len(r.Value) == 0 {
		if l.Registry.Delete(key) {
			l.Log.Info("reference removed", "key", key, "offset", r.Offset)
		}
		return
	}
	ref, err := detector.DecodeReference(r.Value)
	if err == nil && ref.Key() != key {
		err = fmt.Errorf("record key %q does not match the reference's model/version %q", key, ref.Key())
	}
	if err != nil {
		l.Log.Error("rejected reference record", "key", key, "partition", r.Partition, "offset", r.Offset, "err", err)
		if l.OnError != nil {
			l.OnError()
		}
		return
	}
	if l.Registry.Set(ref) {
		l.Log.Info("reference loaded", "key", key, "id", ref.ID, "features", len(ref.Features), "offset", r.Offset)
	}
}

// PublishReference writes ref to the reference topic and waits for the
// broker's acknowledgement.
func PublishReference(ctx context.Context, cl *kgo.Client, topic string, ref *detector.Reference) error {
	rec, err := ReferenceRecord(topic, ref)
	if err != nil {
		return err
	}
	return cl.ProduceSync(ctx, rec).FirstErr()
}
