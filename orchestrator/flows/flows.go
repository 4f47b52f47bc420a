// Package flows holds the saga definitions the product ships, as the same
// files a user writes (definitions/*.yaml, embedded): they are data for
// the generic engine in package saga, and no step has code of its own.
package flows

import (
	"embed"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Definition names, as written in StartSaga requests.
const (
	BookTicket    = "book-ticket"
	CancelBooking = "cancel-booking"
	AddShow       = "add-show"
	UserSignup    = "user-signup"
	ImportUser    = "import-user"
	BlockUser     = "block-user"
	Unblock       = "unblock-user"
)

//go:embed definitions/*.yaml
var files embed.FS

// Timings are the deadlines and retry policies of the shipped definitions.
type Timings struct {
	// StepTimeout bounds one attempt of a step or a compensation.
	StepTimeout time.Duration
	// StepRetry retries transient failures and timeouts of forward steps.
	StepRetry saga.RetryPolicy
	// CompensationRetry retries compensations; when it is used up the saga
	// is parked as failed for an operator.
	CompensationRetry saga.RetryPolicy
}

// DefaultTimings suit services that answer in milliseconds: the defaults
// of a definition file.
func DefaultTimings() Timings {
	return Timings{
		StepTimeout:       time.Duration(definition.DefaultTimeout),
		StepRetry:         policy(definition.DefaultRetry),
		CompensationRetry: policy(definition.DefaultCompensationRetry),
	}
}

// Specs returns the shipped definition files, parsed, by name.
func Specs() map[string]definition.Spec {
	out := map[string]definition.Spec{}
	for name, s := range specs() {
		s.Steps = slices.Clone(s.Steps)
		out[name] = s
	}
	return out
}

// specs are the embedded files, parsed once.
var specs = sync.OnceValue(func() map[string]definition.Spec {
	entries, err := files.ReadDir("definitions")
	if err != nil {
		panic("flows: the embedded definitions: " + err.Error())
	}
	out := map[string]definition.Spec{}
	for _, e := range entries {
		raw, err := files.ReadFile(path.Join("definitions", e.Name()))
		if err != nil {
			panic("flows: " + err.Error())
		}
		s, err := definition.Parse(raw)
		if err != nil {
			panic(fmt.Sprintf("flows: shipped definition %s: %v", e.Name(), err))
		}
		out[s.Name] = s
	}
	return out
})

// SpecWith is a shipped definition's file with other timings, for every
// step: what a deployment that changes them runs, a version of its own.
func SpecWith(name string, t Timings) (definition.Spec, bool) {
	s, ok := specs()[name]
	if !ok {
		return s, false
	}
	s.Steps = slices.Clone(s.Steps)
	if t != DefaultTimings() {
		s.Timeout = definition.Duration(t.StepTimeout)
		s.Retry, s.CompensationRetry = retry(t.StepRetry), retry(t.CompensationRetry)
		for i := range s.Steps {
			s.Steps[i].Timeout, s.Steps[i].Retry = 0, nil
		}
	}
	return s, true
}

// BookTicketDefinition books seats: verify the user, reserve seats, charge,
// confirm (the pivot), notify.
func BookTicketDefinition() saga.Definition { return All()[BookTicket] }

// CancelBookingDefinition undoes a confirmed booking: refund (the point of
// no return), release the seats, tell the user.
func CancelBookingDefinition() saga.Definition { return All()[CancelBooking] }

// All returns every shipped definition, compiled.
func All() saga.Definitions {
	defs, err := AllWith(DefaultTimings())
	if err != nil {
		panic("shipped saga definitions are invalid: " + err.Error())
	}
	return defs
}

// AllWith returns every shipped definition with the given timings.
func AllWith(t Timings) (saga.Definitions, error) {
	var defs []saga.Definition
	for _, name := range slices.Sorted(maps.Keys(specs())) {
		s, _ := SpecWith(name, t)
		d, err := s.Compile(definition.BuiltinServices())
		if err != nil {
			return nil, err
		}
		defs = append(defs, d)
	}
	return saga.NewDefinitions(defs...)
}

func policy(r definition.Retry) saga.RetryPolicy {
	return saga.RetryPolicy{MaxAttempts: r.MaxAttempts, Backoff: time.Duration(r.Backoff), MaxBackoff: time.Duration(r.MaxBackoff)}
}

func retry(p saga.RetryPolicy) *definition.Retry {
	return &definition.Retry{MaxAttempts: p.MaxAttempts, Backoff: definition.Duration(p.Backoff), MaxBackoff: definition.Duration(p.MaxBackoff)}
}
