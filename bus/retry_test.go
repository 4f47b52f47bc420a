package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

func TestTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"dial refused", refused, true},
		{"out of brokers, wrapped", fmt.Errorf("bus: wait for created topics: %w", errors.Join(fmt.Errorf("%w: %w", sarama.ErrOutOfBrokers, refused), context.DeadlineExceeded)), true},
		{"leader moving", fmt.Errorf("produce: %w", sarama.ErrNotLeaderForPartition), true},
		{"controller moving", sarama.ErrNotController, true},
		{"another error", fmt.Errorf("fetch: %w", errors.New("x")), false},
		{"a wrong password", fmt.Errorf("connect: %w", bus.ErrAuthentication), false},
		{"a bad certificate", fmt.Errorf("connect: %w", bus.ErrTLS), false},
		{"not allowed", sarama.ErrTopicAuthorizationFailed, false},
		{"a bad request", sarama.ErrInvalidPartitions, false},
	} {
		if got := bus.Transient(c.err); got != c.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestRetryTransient(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := bus.RetryTransient(ctx, time.Minute, nil, func(context.Context) error {
		calls++
		if calls < 3 {
			return sarama.ErrOutOfBrokers
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("transient twice, then fine: %v after %d calls", err, calls)
	}
	calls = 0
	err = bus.RetryTransient(ctx, time.Minute, nil, func(context.Context) error { calls++; return sarama.ErrTopicAuthorizationFailed })
	if !errors.Is(err, sarama.ErrTopicAuthorizationFailed) || calls != 1 {
		t.Fatalf("a permanent error: %v after %d calls", err, calls)
	}
	calls = 0
	err = bus.RetryTransient(ctx, 2*time.Second, nil, func(context.Context) error { calls++; return sarama.ErrOutOfBrokers })
	if !errors.Is(err, sarama.ErrOutOfBrokers) || calls < 2 || calls > 4 {
		t.Fatalf("past the bound: %v after %d calls", err, calls)
	}
}

func TestRetryBackoffIsQuickThenCapped(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}
	for i, w := range want {
		if got := bus.RetryBackoff(i + 1); got != w {
			t.Errorf("retry %d: backoff %s, want %s", i+1, got, w)
		}
	}
	total := time.Duration(0)
	for n := 1; n <= bus.ProducerRetries; n++ {
		total += bus.RetryBackoff(n)
	}
	// A produce rides out a broker's fencing (2.5 s on the local cluster,
	// 9 s by Kafka's default broker.session.timeout.ms is beyond it).
	if total < 5*time.Second || total > 10*time.Second {
		t.Errorf("a produce retries for %s in all, want between 5 s and 10 s", total)
	}
}
