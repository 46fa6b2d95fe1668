package stream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/driftd/driftd/stream/codec"
)

// Config is the Kafka side of driftd: brokers, security, topics, delivery
// and state. Fields are filled from DRIFTD_* environment variables (the
// env tags, parsed by caarlos0/env in cmd/driftd); Defaults gives every
// default in one place.
type Config struct {
	Brokers  []string `env:"BROKERS" envSeparator:","`
	ClientID string   `env:"CLIENT_ID"`
	Group    string   `env:"GROUP"`
	// InstanceID enables static group membership (KIP-345): a replica
	// that restarts with the same ID gets its partitions back without a
	// rebalance (set it to the pod name in a StatefulSet).
	InstanceID string `env:"INSTANCE_ID"`
	// SessionTimeout is how long the group waits for a silent replica
	// before moving its partitions.
	SessionTimeout time.Duration `env:"SESSION_TIMEOUT"`

	InputTopics []string `env:"INPUT_TOPICS" envSeparator:","`
	// InputFormat is one format for every input topic, or topic=format
	// pairs (see codec.ParseTopicFormats). The built-in formats are
	// canonical and flat; others are given in ServiceOptions.Formats.
	InputFormat string `env:"INPUT_FORMAT"`
	// TimestampUnit is the unit of numeric event timestamps: ms or s.
	TimestampUnit  codec.TimeUnit `env:"TIMESTAMP_UNIT"`
	MaxEventBytes  int            `env:"MAX_EVENT_BYTES"`
	AlertTopic     string         `env:"ALERT_TOPIC"`
	DLQTopic       string         `env:"DLQ_TOPIC"`
	ReferenceTopic string         `env:"REFERENCE_TOPIC"`
	StateTopic     string         `env:"STATE_TOPIC"`
	PanesTopic     string         `env:"PANES_TOPIC"`

	// CreateTopics creates missing topics with kadm; when false, missing
	// topics are reported and driftd exits.
	CreateTopics      bool  `env:"CREATE_TOPICS"`
	TopicPartitions   int32 `env:"TOPIC_PARTITIONS"`   // -1: broker default
	TopicReplication  int16 `env:"TOPIC_REPLICATION"`  // -1: broker default
	StatePartitions   int32 `env:"STATE_PARTITIONS"`   // 0: as many as the first input topic
	ReferencesEnabled bool  `env:"REFERENCES_ENABLED"` // read the reference topic

	// StateMaxMessageBytes is the max.message.bytes driftd sets on the
	// state topic when it creates it (default 1 MiB, what any broker
	// accepts). State records are cut to fit the state topic's
	// effective max.message.bytes, read at start, whatever this says.
	StateMaxMessageBytes int `env:"STATE_MAX_MESSAGE_BYTES"`

	TLS  TLSConfig  `envPrefix:"TLS_"`
	SASL SASLConfig `envPrefix:"SASL_"`

	// MaxPollRecords bounds the records processed per poll.
	MaxPollRecords int `env:"MAX_POLL_RECORDS"`
	// CheckpointInterval is how often window state is written to the
	// state topic and offsets committed; 0 disables state (offsets are
	// committed after every poll and windows start empty on restart).
	CheckpointInterval time.Duration `env:"CHECKPOINT_INTERVAL"`
	// GroupLagInterval is how often the group's lag (end offset minus
	// committed offset, as the brokers see it) is read for
	// driftd_consumer_group_lag_records; 0 disables it.
	GroupLagInterval time.Duration `env:"GROUP_LAG_INTERVAL"`
	// ExactlyOnce writes alerts, DLQ records, checkpoints and offsets in
	// one Kafka transaction.
	ExactlyOnce     bool   `env:"EXACTLY_ONCE"`
	TransactionalID string `env:"TRANSACTIONAL_ID"`
	// MaxBufferedRecords bounds the records waiting to be produced;
	// when the output is slow the consumer stops polling (backpressure).
	MaxBufferedRecords int `env:"MAX_BUFFERED_RECORDS"`
	// Workers is how many partitions are processed in parallel (0: one
	// per CPU, GOMAXPROCS). Each partition's events stay in order on one
	// worker.
	Workers int `env:"WORKERS"`
	// StartupTimeout bounds how long start-up retries, with backoff,
	// brokers that cannot be reached (a service started before its
	// brokers); 0: fail at the first error.
	StartupTimeout time.Duration `env:"STARTUP_TIMEOUT"`
	// ReadinessBrokerTimeout: /ready fails when no broker answered for
	// this long; 0 disables the check.
	ReadinessBrokerTimeout time.Duration `env:"READINESS_BROKER_TIMEOUT"`
	// LivenessTimeout: /healthz fails when the pipeline made no progress
	// for this long with work pending; 0 disables the check.
	LivenessTimeout time.Duration `env:"LIVENESS_TIMEOUT"`
	// ProducerCompression compresses what driftd produces (alerts, dead
	// letters, checkpoints, panes): none, gzip (default: every mainstream
	// client reads it without an extra library), snappy, lz4 or zstd.
	ProducerCompression string `env:"PRODUCER_COMPRESSION"`
	// StaleAfter: a model version that sent no events for this long has
	// its firing alerts resolved with reason "stale" and its gauges
	// cleared; 0 disables it.
	StaleAfter time.Duration `env:"STALE_AFTER"`
	// Mode is single (default), stage1 (events → panes) or stage2
	// (panes → tests); see two-stage mode in the README.
	Mode string `env:"MODE"`
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	Enabled            bool   `env:"ENABLED"`
	CAFile             string `env:"CA_FILE"`
	CertFile           string `env:"CERT_FILE"`
	KeyFile            string `env:"KEY_FILE"`
	ServerName         string `env:"SERVER_NAME"`
	InsecureSkipVerify bool   `env:"INSECURE_SKIP_VERIFY"`
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	Mechanism string `env:"MECHANISM"` // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username  string `env:"USERNAME"`
	Password  string `env:"PASSWORD"`
}

// Modes.
const (
	ModeSingle = "single"
	ModeStage1 = "stage1"
	ModeStage2 = "stage2"
)

// SASL mechanisms.
var saslMechanisms = []string{"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// compressionCodecs are the accepted DRIFTD_PRODUCER_COMPRESSION values.
var compressionCodecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// noCompression is the compressor of DRIFTD_PRODUCER_COMPRESSION=none: a
// nil result leaves the batch uncompressed.
type noCompression struct{}

func (noCompression) Compress(*bytes.Buffer, []byte, ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	return nil, kgo.CodecNone
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Brokers:            []string{"localhost:9092"},
		ClientID:           "driftd",
		Group:              "driftd",
		SessionTimeout:     45 * time.Second,
		InputTopics:        []string{"inference.events"},
		InputFormat:        string(codec.Canonical),
		TimestampUnit:      codec.Millis,
		MaxEventBytes:      codec.DefaultMaxBytes,
		AlertTopic:         "drift.alerts",
		DLQTopic:           "inference.events.dlq",
		ReferenceTopic:     "drift.references",
		StateTopic:         "drift.state",
		PanesTopic:         "drift.panes",
		CreateTopics:       true,
		TopicPartitions:    -1,
		TopicReplication:   -1,
		ReferencesEnabled:  true,
		MaxPollRecords:     10000,
		CheckpointInterval: 10 * time.Second,
		GroupLagInterval:   10 * time.Second,
		MaxBufferedRecords: 100000,
		Mode:               ModeSingle,

		StartupTimeout:         5 * time.Minute,
		ReadinessBrokerTimeout: 30 * time.Second,
		LivenessTimeout:        5 * time.Minute,
		StaleAfter:             time.Hour,
		ProducerCompression:    "gzip",
		StateMaxMessageBytes:   DefaultStateMaxMessageBytes,
	}
}

// ConfigError names the environment variable of an invalid setting.
type ConfigError struct {
	Var string // e.g. DRIFTD_SASL_MECHANISM
	Msg string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Msg }

func cfgErr(v, format string, args ...any) error {
	return &ConfigError{Var: "DRIFTD_" + v, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration; errors name the variable and the
// accepted values.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return cfgErr("BROKERS", "must list at least one host:port")
	}
	for i, b := range c.Brokers {
		if err := checkHostPort(b); err != nil {
			return cfgErr("BROKERS", "entry %d %q %v; accepted: a comma-separated list of host:port (port 1 to 65535)", i+1, b, err)
		}
	}
	if c.ClientID == "" {
		return cfgErr("CLIENT_ID", "must not be empty; accepted: a client ID")
	}
	if c.Group == "" {
		return cfgErr("GROUP", "must not be empty; accepted: a consumer group name")
	}
	if c.InstanceID != "" {
		if err := checkKafkaName(c.InstanceID); err != nil {
			return cfgErr("INSTANCE_ID", "%q %v; accepted: empty (dynamic membership) or up to 249 of a-z A-Z 0-9 . _ -", c.InstanceID, err)
		}
	}
	if c.SessionTimeout < time.Second || c.SessionTimeout > 30*time.Minute {
		return cfgErr("SESSION_TIMEOUT", "is %s; accepted: 1s to 30m (and within the broker's group.min/max.session.timeout.ms)", c.SessionTimeout)
	}
	if len(c.InputTopics) == 0 && c.Mode != ModeStage2 {
		return cfgErr("INPUT_TOPICS", "must list at least one topic; accepted: a comma-separated list of topic names")
	}
	for i, t := range c.InputTopics {
		if err := checkKafkaName(t); err != nil {
			return cfgErr("INPUT_TOPICS", "entry %d %q %v; accepted: a comma-separated list of topic names, each up to 249 of a-z A-Z 0-9 . _ -", i+1, t, err)
		}
		if slices.Contains(c.InputTopics[:i], t) {
			return cfgErr("INPUT_TOPICS", "lists %q twice; accepted: distinct topic names", t)
		}
	}
	if _, _, err := codec.ParseTopicFormats(c.InputFormat, c.InputTopics); err != nil {
		return cfgErr("INPUT_FORMAT", "%v", err)
	}
	if !slices.Contains(codec.TimeUnits, c.TimestampUnit) {
		return cfgErr("TIMESTAMP_UNIT", "is %q; accepted: ms (Unix milliseconds), s (Unix seconds)", c.TimestampUnit)
	}
	if c.MaxEventBytes < 64 || c.MaxEventBytes > 64<<20 {
		return cfgErr("MAX_EVENT_BYTES", "is %d; accepted: 64 to 67108864", c.MaxEventBytes)
	}
	for v, t := range map[string]string{"ALERT_TOPIC": c.AlertTopic, "DLQ_TOPIC": c.DLQTopic, "REFERENCE_TOPIC": c.ReferenceTopic, "STATE_TOPIC": c.StateTopic, "PANES_TOPIC": c.PanesTopic} {
		if err := checkKafkaName(t); err != nil {
			return cfgErr(v, "%q %v; accepted: a topic name of up to 249 of a-z A-Z 0-9 . _ -", t, err)
		}
		if slices.Contains(c.InputTopics, t) {
			return cfgErr(v, "%q is also an input topic; accepted: a topic not in DRIFTD_INPUT_TOPICS", t)
		}
	}
	if c.TopicPartitions == 0 || c.TopicPartitions < -1 {
		return cfgErr("TOPIC_PARTITIONS", "is %d; accepted: -1 (broker default) or a positive count", c.TopicPartitions)
	}
	if c.TopicReplication == 0 || c.TopicReplication < -1 {
		return cfgErr("TOPIC_REPLICATION", "is %d; accepted: -1 (broker default) or a positive factor", c.TopicReplication)
	}
	if c.StatePartitions < 0 {
		return cfgErr("STATE_PARTITIONS", "is %d; accepted: 0 (as the input topic) or a positive count", c.StatePartitions)
	}
	if c.StateMaxMessageBytes < MinStateMaxMessageBytes || c.StateMaxMessageBytes > MaxStateMaxMessageBytes {
		return cfgErr("STATE_MAX_MESSAGE_BYTES", "is %d; accepted: %d to %d", c.StateMaxMessageBytes, MinStateMaxMessageBytes, MaxStateMaxMessageBytes)
	}
	if !slices.Contains(saslMechanisms, c.SASL.Mechanism) {
		return cfgErr("SASL_MECHANISM", "is %q; accepted: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (or empty for none)", c.SASL.Mechanism)
	}
	if c.SASL.Mechanism != "" && c.SASL.Username == "" {
		return cfgErr("SASL_USERNAME", "must be set with DRIFTD_SASL_MECHANISM=%s; accepted: a non-empty user name", c.SASL.Mechanism)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return cfgErr("TLS_CERT_FILE", "and DRIFTD_TLS_KEY_FILE must be set together; accepted: both set (a client certificate) or both empty")
	}
	for v, f := range map[string]string{"TLS_CA_FILE": c.TLS.CAFile, "TLS_CERT_FILE": c.TLS.CertFile, "TLS_KEY_FILE": c.TLS.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return cfgErr(v, "%v; accepted: a readable PEM file", err)
		}
	}
	if _, err := c.tlsConfig(); err != nil {
		return err
	}
	if c.MaxPollRecords < 1 || c.MaxPollRecords > 1_000_000 {
		return cfgErr("MAX_POLL_RECORDS", "is %d; accepted: 1 to 1000000", c.MaxPollRecords)
	}
	if c.CheckpointInterval < 0 || (c.CheckpointInterval > 0 && c.CheckpointInterval < 100*time.Millisecond) {
		return cfgErr("CHECKPOINT_INTERVAL", "is %s; accepted: 0 (no state) or at least 100ms", c.CheckpointInterval)
	}
	if c.GroupLagInterval < 0 || (c.GroupLagInterval > 0 && c.GroupLagInterval < 100*time.Millisecond) {
		return cfgErr("GROUP_LAG_INTERVAL", "is %s; accepted: 0 (off) or at least 100ms", c.GroupLagInterval)
	}
	if c.Workers < 0 || c.Workers > 256 {
		return cfgErr("WORKERS", "is %d; accepted: 0 (one per CPU) to 256", c.Workers)
	}
	if c.MaxBufferedRecords < 100 {
		return cfgErr("MAX_BUFFERED_RECORDS", "is %d; accepted: at least 100", c.MaxBufferedRecords)
	}
	if c.StartupTimeout < 0 {
		return cfgErr("STARTUP_TIMEOUT", "is %s; accepted: 0 (no retry) or a positive duration like 5m", c.StartupTimeout)
	}
	if c.ReadinessBrokerTimeout < 0 || (c.ReadinessBrokerTimeout > 0 && c.ReadinessBrokerTimeout < time.Second) {
		return cfgErr("READINESS_BROKER_TIMEOUT", "is %s; accepted: 0 (off) or at least 1s", c.ReadinessBrokerTimeout)
	}
	if c.LivenessTimeout < 0 || (c.LivenessTimeout > 0 && c.LivenessTimeout < time.Second) {
		return cfgErr("LIVENESS_TIMEOUT", "is %s; accepted: 0 (off) or at least 1s", c.LivenessTimeout)
	}
	if _, ok := compressionCodecs[c.ProducerCompression]; !ok {
		return cfgErr("PRODUCER_COMPRESSION", "is %q; accepted: none, gzip, snappy, lz4, zstd", c.ProducerCompression)
	}
	if c.StaleAfter < 0 || (c.StaleAfter > 0 && c.StaleAfter < time.Second) {
		return cfgErr("STALE_AFTER", "is %s; accepted: 0 (off) or at least 1s, e.g. 1h", c.StaleAfter)
	}
	switch c.Mode {
	case ModeSingle, ModeStage1, ModeStage2:
	default:
		return cfgErr("MODE", "is %q; accepted: single, stage1, stage2", c.Mode)
	}
	if c.ExactlyOnce && c.CheckpointInterval == 0 {
		return cfgErr("EXACTLY_ONCE", "needs state: set DRIFTD_CHECKPOINT_INTERVAL > 0; accepted: false, or true with DRIFTD_CHECKPOINT_INTERVAL > 0")
	}
	return nil
}

// checkHostPort checks a broker address: host:port with a host and a
// port number in 1..65535.
func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return errors.New("is not host:port")
	}
	if host == "" {
		return errors.New("has no host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("has port %q, not a number in 1..65535", port)
	}
	return nil
}

// checkKafkaName checks a topic name (or group instance ID) the way the
// brokers do: 1 to 249 characters of ASCII letters, digits, '.', '_' and
// '-', and neither "." nor "..".
func checkKafkaName(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case s == "." || s == "..":
		return errors.New("is not a legal name")
	case len(s) > 249:
		return fmt.Errorf("is %d characters long", len(s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("contains %q", r)
		}
	}
	return nil
}

// tlsConfig builds the client TLS configuration, or nil without TLS.
func (c *Config) tlsConfig() (*tls.Config, error) {
	t := c.TLS
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, cfgErr("TLS_CA_FILE", "%v; accepted: a readable PEM file", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cfgErr("TLS_CA_FILE", "%s holds no PEM certificate; accepted: a PEM file of CA certificates", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, cfgErr("TLS_CERT_FILE", "%v; accepted: a PEM certificate whose key is DRIFTD_TLS_KEY_FILE", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ClientOpts returns the franz-go options for brokers, client ID, TLS and
// SASL, shared by every client driftd creates.
func (c *Config) ClientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID)}
	if codec, ok := compressionCodecs[c.ProducerCompression]; ok {
		// A compressor rather than ProducerBatchCompression: these options
		// are shared by concurrent clients, and franz-go rewrites the
		// codec slice of that option in every NewClient.
		var comp kgo.Compressor = noCompression{}
		if c.ProducerCompression != "none" {
			var err error
			if comp, err = kgo.DefaultCompressor(codec); err != nil {
				return nil, cfgErr("PRODUCER_COMPRESSION", "%v", err)
			}
		}
		opts = append(opts, kgo.WithCompressor(comp))
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch c.SASL.Mechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha512Mechanism()))
	}
	return opts, nil
}

// kgoLogger routes franz-go's log lines into slog at their own level.
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case l.log.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
	case l.log.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelInfo
	case l.log.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	}
	return kgo.LogLevelError
}

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := map[kgo.LogLevel]slog.Level{kgo.LogLevelDebug: slog.LevelDebug, kgo.LogLevelInfo: slog.LevelInfo,
		kgo.LogLevelWarn: slog.LevelWarn, kgo.LogLevelError: slog.LevelError}[level]
	l.log.Log(context.Background(), lv, "kafka: "+msg, keyvals...)
}
