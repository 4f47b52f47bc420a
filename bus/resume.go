package bus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultRetry is Config.Retry's default: longer than a broker's restart
// or a leader's election on a three-broker cluster.
const DefaultRetry = 30 * time.Second

// RetryBound is how long transient errors are retried (Config.Retry):
// zero when they are not.
func (c Config) RetryBound() time.Duration {
	switch {
	case c.Retry < 0:
		return 0
	case c.Retry == 0:
		return DefaultRetry
	}
	return c.Retry
}

// stopped is an error of a caller's callback: it ends a read as it is,
// never retried.
type stopped struct{ err error }

func (s stopped) Error() string { return s.err.Error() }
func (s stopped) Unwrap() error { return s.err }

// stopping wraps fn so that its errors are told from the bus's own.
func stopping(fn func(Record) error) func(Record) error {
	return func(r Record) error {
		if err := fn(r); err != nil {
			return stopped{err}
		}
		return nil
	}
}

// resuming calls attempt until it succeeds or fails for good. An attempt
// that fails with a transient error (Transient) is made again, after a
// backoff, on a new connection and so with fresh metadata; it resumes
// where the last one was, which attempt keeps track of. It gives up once
// the errors have gone on for cfg's RetryBound with no progress (attempt
// calls progress when it delivers or connects), with one line that says
// for how long and why.
func resuming(ctx context.Context, cfg Config, what string, attempt func(progress func()) error) error {
	bound := cfg.RetryBound()
	var failingSince time.Time
	wait := 250 * time.Millisecond
	for {
		progressed := false
		err := attempt(func() { progressed = true })
		var stop stopped
		switch {
		case err == nil:
			return nil
		case errors.As(err, &stop):
			return stop.err
		case ctx.Err() != nil || !Transient(err):
			return err
		}
		now := time.Now()
		if progressed || failingSince.IsZero() {
			failingSince, wait = now, 250*time.Millisecond
		}
		if now.Add(wait).Sub(failingSince) > bound {
			if bound == 0 {
				return err
			}
			return fmt.Errorf("%s: kafka at %v unavailable for %s: %w", what, cfg.Brokers, now.Sub(failingSince).Round(time.Second), err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
