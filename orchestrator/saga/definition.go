// Package saga is the saga state machine as pure functions: Apply folds the
// saga log into a State, Decide turns a State and an input into the events
// to append. It imports nothing from Kafka, SQL or logging, so every path is
// tested without a broker and a log replays to the same state anywhere.
package saga

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
)

// RetryPolicy says how often and how patiently an action is retried after a
// transient failure or a timeout.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt; 1 means no retry.
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles each time.
	Backoff time.Duration
	// MaxBackoff caps the wait.
	MaxBackoff time.Duration
}

// Delay is the wait before attempt+1. A deterministic jitter of up to a
// fifth of the delay, drawn from seed, spreads retries of many sagas while
// keeping Decide a pure function.
func (p RetryPolicy) Delay(attempt int, seed string) time.Duration {
	d := p.Backoff
	for i := 1; i < attempt && (p.MaxBackoff == 0 || d < p.MaxBackoff); i++ {
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	if d <= 0 {
		return 0
	}
	return d - time.Duration(fnv32(seed)%1000)*d/5000
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// Step is one action of a saga: a command to a participant and, if the
// action has an effect, the command that undoes it.
type Step struct {
	Name    string
	Service string
	Command events.Type
	// Compensation is the command that undoes Command; empty for steps
	// without effect (a read) and for steps after the pivot.
	Compensation events.Type
	// KeyField names the saga data field whose value keys the command, for
	// participants that must serialise per entity (the show of a booking).
	// Empty means the saga id.
	KeyField string
	// Timeout bounds one attempt; its deadline is written into the log.
	Timeout time.Duration
	Retry   RetryPolicy
	// Pivot marks the point of no return: once it succeeds the saga only
	// goes forward, retrying later steps until they succeed.
	Pivot bool
	// Secrets are the secret fields of the saga data (events.SecretFields)
	// this step's command needs; its compensation and the commands of
	// every other step go without them. The payment token goes to the
	// charge alone.
	Secrets []string
	// SLO is how long the step may take from its first attempt to its
	// success before the watchdog reports the saga stuck; zero means
	// SLOMultiple times its attempts' timeouts and backoffs (StepSLO).
	SLO time.Duration
}

// Definition is a saga as data: ordered steps and how compensations retry.
type Definition struct {
	Name string
	// Version is the content hash of the definition's file (package
	// definition); a saga records it when it starts and runs by it to its
	// end. Empty for a definition built in Go, known by its name alone.
	Version string
	// Spec is that file as canonical JSON, logged with every saga that
	// starts on it; empty for a definition built in Go.
	Spec  json.RawMessage
	Steps []Step
	// CompensationRetry applies to every compensation; when it is used up
	// the saga is parked as failed for an operator.
	CompensationRetry RetryPolicy
	// ValidateData checks a start request's data before anything happens.
	ValidateData func(data json.RawMessage) error
	// RefFromSagaID says that a request's booking reference is the one
	// derived from its saga id (events.BookingRefFor): a booking's
	// reference then names one booking only, and a request naming another
	// one is refused.
	RefFromSagaID bool
	// SLO is how long a saga may run before the watchdog reports it stuck;
	// zero means SLOMultiple times the budget of every step and
	// compensation (SagaSLO).
	SLO time.Duration
}

// Validate reports every problem of a definition at once.
func (d Definition) Validate() error {
	var errs []error
	if d.Name == "" {
		errs = append(errs, errors.New("definition name is required"))
	}
	if len(d.Steps) == 0 {
		errs = append(errs, fmt.Errorf("%s: at least one step is required", d.Name))
	}
	seen := map[string]bool{}
	pivots := 0
	for i, s := range d.Steps {
		if s.Name == "" || s.Service == "" || s.Command == "" {
			errs = append(errs, fmt.Errorf("%s: step %d needs a name, a service and a command", d.Name, i))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s: step name %q is used twice", d.Name, s.Name))
		}
		seen[s.Name] = true
		if s.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("%s: step %q needs a positive timeout", d.Name, s.Name))
		}
		if s.Retry.MaxAttempts < 1 {
			errs = append(errs, fmt.Errorf("%s: step %q needs at least one attempt", d.Name, s.Name))
		}
		if s.SLO < 0 {
			errs = append(errs, fmt.Errorf("%s: step %q has a negative SLO", d.Name, s.Name))
		}
		if s.Pivot {
			pivots++
		}
		if pivots > 0 && !s.Pivot && s.Compensation != "" {
			errs = append(errs, fmt.Errorf("%s: step %q comes after the pivot and cannot have a compensation", d.Name, s.Name))
		}
	}
	if pivots > 1 {
		errs = append(errs, fmt.Errorf("%s: at most one pivot step", d.Name))
	}
	if d.SLO < 0 {
		errs = append(errs, fmt.Errorf("%s: the SLO is negative", d.Name))
	}
	if d.CompensationRetry.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("%s: compensations need at least one attempt", d.Name))
	}
	return errors.Join(errs...)
}

// Definitions is the set of definitions a machine runs, by name.
type Definitions map[string]Definition

// NewDefinitions validates and indexes definitions.
func NewDefinitions(defs ...Definition) (Definitions, error) {
	out := Definitions{}
	var errs []error
	for _, d := range defs {
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := out[d.Name]; dup {
			errs = append(errs, fmt.Errorf("definition %q is given twice", d.Name))
		}
		out[d.Name] = d
	}
	return out, errors.Join(errs...)
}
