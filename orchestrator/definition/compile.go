package definition

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Services says which services exist and which commands each handles:
// a definition may name no other.
type Services map[string][]events.Type

// Bounds of a definition: every saga that starts on it logs it whole.
const (
	MaxSteps     = 64
	MaxSpecBytes = 32 << 10
)

// secretOwners says which service each secret field of the saga data
// (events.SecretFields) may be sent to.
var secretOwners = map[string]string{"payment_token": events.ServicePayment}

// BuiltinServices are the services the binary runs.
func BuiltinServices() Services {
	return Services{
		events.ServiceUser:         {events.VerifyUser, events.RegisterUser, events.RemoveUser, events.BlockUser, events.UnblockUser},
		events.ServiceBooking:      {events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking, events.AddShow},
		events.ServicePayment:      {events.ChargePayment, events.RefundPayment},
		events.ServiceNotification: {events.SendNotification},
	}
}

func init() { saga.SetSpecCompiler(FromLog) }

// FromLog compiles the definition file a SagaStarted event carries.
func FromLog(raw json.RawMessage) (saga.Definition, error) {
	s, err := Parse(raw)
	if err != nil {
		return saga.Definition{}, err
	}
	return s.Compile(nil)
}

// KnownServices are the built-in services and those declared in this
// process's configuration (events.Declared), each with its commands and
// their compensations.
func KnownServices() Services {
	out := BuiltinServices()
	for _, d := range events.Declared() {
		var cmds []events.Type
		for _, c := range d.Commands {
			cmds = append(cmds, c.Name)
			if c.Compensation != "" {
				cmds = append(cmds, c.Compensation)
			}
		}
		out = out.With(d.Name, cmds...)
	}
	return out
}

// With returns the services and one more, declared in configuration.
func (s Services) With(name string, commands ...events.Type) Services {
	out := Services{}
	for k, v := range s {
		out[k] = v
	}
	out[name] = append(slices.Clone(out[name]), commands...)
	return out
}

// Compile checks the spec against the services and returns the definition
// the state machine runs, its Version and Spec set. Every problem is
// reported at once, each naming the step it is about. Nil services are
// not checked: a definition read back from the log was checked when it
// was applied, and a reader need not run its services.
func (s Spec) Compile(known Services) (saga.Definition, error) {
	n := s.Normal()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(n.Steps) > MaxSteps {
		bad("%d steps: at most %d", len(n.Steps), MaxSteps)
	}
	if size := len(n.Compact()); size > MaxSpecBytes {
		bad("the definition is %d bytes as JSON: at most %d (every saga logs it when it starts)", size, MaxSpecBytes)
	}
	if !validName(n.Name) {
		bad("name %q must be 1 to 64 letters, digits, '-' or '_'", n.Name)
	}
	check, fields, ok := dataCheck(n.Data, n.Required)
	if !ok {
		bad("data %q is not a known data check (one of %v)", n.Data, DataCheckNames())
	}
	def := saga.Definition{Name: n.Name, Version: n.Version(), Spec: n.Compact(), ValidateData: check, RefFromSagaID: n.RefFromSagaID,
		SLO: time.Duration(n.SLO), CompensationRetry: n.CompensationRetry.policy()}
	for i, st := range n.Steps {
		at := fmt.Sprintf("step %d", i+1)
		if st.Name != "" {
			at = fmt.Sprintf("step %q", st.Name)
		}
		cmds, isService := known[st.Service]
		switch {
		case st.Service == "":
			bad("%s: a service is required", at)
		case known == nil:
			// Logged: checked when it was applied.
		case !isService:
			bad("%s: unknown service %q", at, st.Service)
		}
		if st.Command == "" {
			bad("%s: a command is required", at)
		} else if isService && !slices.Contains(cmds, events.Type(st.Command)) {
			bad("%s: service %q has no command %q", at, st.Service, st.Command)
		}
		if st.Compensation != "" && isService && !slices.Contains(cmds, events.Type(st.Compensation)) {
			bad("%s: service %q has no command %q to compensate with", at, st.Service, st.Compensation)
		}
		if st.Key != "" && !slices.Contains(fields, st.Key) {
			bad("%s: key field %q is not in the saga's data (it has %v)", at, st.Key, fields)
		}
		for _, sec := range st.Secrets {
			switch owner, ok := secretOwners[sec]; {
			case !ok:
				bad("%s: %q is not a secret field (one of %v)", at, sec, events.SecretFields)
			case owner != st.Service:
				// A definition must not be a way to hand a card's token
				// to a service that has no use for it.
				bad("%s: %s goes to the %s service alone, not to %q", at, sec, owner, st.Service)
			}
		}
		def.Steps = append(def.Steps, saga.Step{Name: st.Name, Service: st.Service, Command: events.Type(st.Command),
			Compensation: events.Type(st.Compensation), KeyField: st.Key, Timeout: time.Duration(st.Timeout),
			Retry: st.Retry.policy(), Pivot: st.Pivot, Secrets: st.Secrets, SLO: time.Duration(st.SLO)})
	}
	// The state machine's own rules: names, a pivot at most, nothing to
	// compensate after it, positive timeouts and attempts.
	if err := def.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return saga.Definition{}, fmt.Errorf("definition %q is invalid: %w", n.Name, err)
	}
	return def, nil
}

func (r *Retry) policy() saga.RetryPolicy {
	return saga.RetryPolicy{MaxAttempts: r.MaxAttempts, Backoff: time.Duration(r.Backoff), MaxBackoff: time.Duration(r.MaxBackoff)}
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
