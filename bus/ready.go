package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/IBM/sarama"
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
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var last error
	for {
		err := probe(ctx, cfg, conf)
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

// probe asks the bootstrap brokers in turn for metadata until one
// answers. It talks to each broker directly rather than through a sarama
// client, which keeps only some brokers' errors (an unsupported SASL
// mechanism, for one, becomes a bare "run out of brokers"). sarama cannot
// be cancelled, so this runs in a goroutine that finishes on its own
// within its dial and read timeouts, and closes what it opened.
func probe(ctx context.Context, cfg Config, conf *sarama.Config) error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, addr := range cfg.Brokers {
			err := probeBroker(addr, cfg, conf)
			if err == nil {
				done <- nil
				return
			}
			if len(cfg.Brokers) > 1 {
				err = fmt.Errorf("%s: %w", addr, err)
			}
			errs = append(errs, err)
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeBroker asks one broker for metadata. A broker hangs up without a
// word on a client that speaks the wrong protocol, so when it hangs up
// probeBroker finds out why rather than report a broker going away.
func probeBroker(addr string, cfg Config, conf *sarama.Config) error {
	opened, err := askMetadata(addr, conf)
	if err == nil || !hungUp(err) {
		return err
	}
	timeout := conf.Net.DialTimeout
	switch {
	case !cfg.TLS.On() && !opened && tlsHandshake(addr, timeout) == nil:
		// A TLS listener: it completes a TLS handshake.
		return fmt.Errorf("%w: %w", errExpectsTLS, err)
	case cfg.TLS.On() && !opened && hungUp(tlsHandshake(addr, timeout)):
		// A plaintext listener: it hangs up on every TLS handshake.
		return fmt.Errorf("%w: %w", errNoTLS, err)
	case !cfg.SASL.On() && opened:
		// A SASL listener answers ApiVersions, then hangs up on the
		// metadata request of a client that did not authenticate. Asked
		// twice, so that a broker shutting down is not mistaken for one.
		if again, err2 := askMetadata(addr, conf); again && hungUp(err2) {
			return fmt.Errorf("%w: %w", errNeedsSASL, err)
		}
	}
	return err
}

// askMetadata connects (TLS handshake and SASL included) and asks for
// metadata once; opened says whether the connection was set up.
func askMetadata(addr string, conf *sarama.Config) (opened bool, err error) {
	b := sarama.NewBroker(addr)
	if err := b.Open(conf); err != nil {
		return false, err
	}
	defer b.Close()
	// Connected waits for Open to finish and returns its error.
	if ok, err := b.Connected(); !ok {
		if err == nil {
			err = sarama.ErrNotConnected
		}
		return false, err
	}
	md, err := b.GetMetadata(sarama.NewMetadataRequest(conf.Version, nil))
	if err != nil {
		return true, err
	}
	if len(md.Brokers) == 0 {
		return true, errors.New("metadata lists no brokers")
	}
	return true, nil
}

// hungUp reports whether the broker closed the connection on us.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// tlsHandshake tries a TLS handshake with addr and hangs up. Nothing is
// sent over the connection, so the certificate is not checked.
func tlsHandshake(addr string, timeout time.Duration) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) // #nosec G402 -- probe only
	if err != nil {
		return err
	}
	return conn.Close()
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
