package stream

// Start-up: the brokers may come up after driftd (compose, Kubernetes);
// the first contact is retried with backoff for StartupTimeout.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// connect checks (and creates) the topics and reads the DLQ topic's size
// limit, retrying errors that mean "brokers not reachable yet" with
// backoff (1s doubling to 30s) until StartupTimeout has passed. Other
// errors (authentication, missing topics with creation off) fail at once.
func (s *Service) connect(ctx context.Context) error {
	start := time.Now()
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := s.connectOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		waited := time.Since(start)
		if !unreachable(err) || s.cfg.StartupTimeout <= 0 {
			return err
		}
		if waited >= s.cfg.StartupTimeout {
			return fmt.Errorf("brokers %v not reachable within DRIFTD_STARTUP_TIMEOUT=%s (%d attempts): %w", s.cfg.Brokers, s.cfg.StartupTimeout, attempt, err)
		}
		s.log.Warn("brokers not reachable yet; retrying", "brokers", s.cfg.Brokers, "attempt", attempt, "retry_in", backoff,
			"gives_up_in", (s.cfg.StartupTimeout - waited).Round(time.Second), "err", err)
		s.markProgress() // retrying is not a wedge: StartupTimeout bounds it
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(backoff, s.cfg.StartupTimeout-waited)):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *Service) connectOnce(ctx context.Context) error {
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := EnsureTopics(ctx, adm, &s.cfg); err != nil {
		return err
	}
	if s.stateLimit, err = s.readStateLimit(ctx, adm); err != nil {
		return err
	}
	// Dead letters are truncated to fit the DLQ topic: a record it
	// refuses would otherwise fail the run (or, in a transaction, abort
	// it again at every replay).
	s.dlqMaxBytes, err = maxMessageBytes(ctx, adm, s.cfg.DLQTopic)
	if err != nil {
		s.log.Warn("reading the DLQ topic's max.message.bytes; assuming the Kafka default", "topic", s.cfg.DLQTopic, "default", defaultMaxMessageBytes, "err", err)
		s.dlqMaxBytes = defaultMaxMessageBytes
	}
	return nil
}

// unreachable reports whether err means the brokers could not be reached
// (yet): a refused or failed dial, an unknown host, a timeout, or a
// retriable Kafka error (a broker still starting).
func unreachable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var kErr *kerr.Error
	switch {
	case errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &opErr):
		return opErr.Op == "dial"
	case errors.As(err, &kErr):
		return kErr.Retriable || errors.Is(err, kerr.CoordinatorNotAvailable)
	}
	return false
}
