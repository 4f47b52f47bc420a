package bus

import (
	"context"
	"fmt"
	"time"
)

// readyProbeInterval is the pause between probes of a cluster that
// refused the connection (e.g. a broker still starting).
const readyProbeInterval = 250 * time.Millisecond

// WaitReady returns nil once a broker answers a metadata request, and an
// error saying "kafka at [...] unreachable" once about DialTimeout has
// passed without an answer (or ctx ends first). Refused connections are
// retried during that window so a broker that is just starting is
// tolerated; nothing waits longer than one dial timeout past the window.
// Rejected credentials (ErrAuthentication) and certificates (ErrTLS) are
// reported at once: retrying cannot fix them.
func WaitReady(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var last error
	for {
		err := probe(ctx, cfg)
		if err == nil {
			return nil
		}
		if perr := permanent(cfg, err); perr != nil {
			return perr
		}
		if last == nil || ctx.Err() == nil {
			last = err // keep the broker's answer over our own deadline
		}
		select {
		case <-ctx.Done():
			return unreachable(cfg, last)
		case <-time.After(readyProbeInterval):
		}
	}
}

// probe asks the cluster for metadata once. sarama cannot be cancelled,
// so it runs in a goroutine that finishes on its own within its dial and
// read timeouts, and closes what it opened.
func probe(ctx context.Context, cfg Config) error {
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return err
	}
	conf.Metadata.Retry.Max = 0 // WaitReady does its own retrying
	done := make(chan error, 1)
	go func() {
		c, err := newClient(cfg.Brokers, conf)
		if err == nil {
			if len(c.Brokers()) == 0 {
				err = fmt.Errorf("metadata lists no brokers")
			}
			_ = c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unreachable is the one wording for "no broker answered", so the CLI and
// logs say the same thing whichever call noticed first. Rejected
// credentials or certificates get their own wording (see permanent).
func unreachable(cfg Config, err error) error {
	if perr := permanent(cfg, err); perr != nil {
		return perr
	}
	return fmt.Errorf("kafka at %v unreachable: %w", cfg.Brokers, err)
}
