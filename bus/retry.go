package bus

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// transientKErrors are the broker's answers that a moment and fresh
// metadata fix: a leader moving, a broker or controller starting.
var transientKErrors = []sarama.KError{sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable,
	sarama.ErrRequestTimedOut, sarama.ErrNotController, sarama.ErrNetworkException, sarama.ErrBrokerNotAvailable,
	sarama.ErrReplicaNotAvailable, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrConsumerCoordinatorNotAvailable,
	sarama.ErrNotCoordinatorForConsumer, sarama.ErrOffsetsLoadInProgress, sarama.ErrKafkaStorageError}

// Transient reports whether err is one that waiting can fix: the broker
// unreachable for a while (restarting, its leaders moving), not a wrong
// password, certificate or permission, which it reports as it was.
func Transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrAuthentication), errors.Is(err, ErrTLS):
		return false
	case errors.Is(err, sarama.ErrOutOfBrokers), errors.Is(err, sarama.ErrNotConnected), errors.Is(err, sarama.ErrClosedClient),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		for _, k := range transientKErrors {
			if kerr == k {
				return true
			}
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// RetryTransient calls fn until it succeeds, fails for good, or has failed
// for bound with transient errors (Transient), waiting a second or two
// between tries and telling retry of each: a part that starts while the
// broker restarts waits for it, rather than exiting.
func RetryTransient(ctx context.Context, bound time.Duration, retry func(err error), fn func(context.Context) error) error {
	deadline := time.Now().Add(bound)
	wait := 500 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !Transient(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		if retry != nil {
			retry(err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
