package conformance

import (
	"cmp"
	"encoding/json"
	"fmt"

	"github.com/sagaflow/saga/events"
)

// Script is what the kit says to one service: its steps in the order a
// saga runs them, the saga data a conversation starts with, and what must
// be done first (and undone after) elsewhere for that data to be good.
type Script struct {
	Service string
	Steps   []Step
	// Data is the saga data of conversation n, a JSON object; sagaID and
	// ref are the saga's id and booking reference.
	Data func(n int, sagaID, ref string) map[string]any
	// Prepare, when set, is a step of another service whose successful
	// reply data the conversation needs (the payment service charges only
	// an amount the booking service signed); it is compensated at the end.
	Prepare *Prepare
}

// Step is one command of the service and its compensation, and the saga
// data field that keys it (empty: the saga id).
type Step struct {
	Command      events.Type
	Compensation events.Type
	KeyField     string
	// Secrets are the secret fields (events.SecretFields) the command
	// needs; every other command goes without them, as the orchestrator
	// sends them.
	Secrets []string
}

// Prepare is a step of another service run before a conversation.
type Prepare struct {
	Service string
	Step    Step
}

// The demo world's values that succeed: a valid user, a show with seats
// and a card that is charged (see package demo).
const (
	demoUser  = "alice"
	demoShow  = "show-1"
	demoToken = "tok_ok"
)

func demoData(_ int, _, ref string) map[string]any {
	return map[string]any{"booking_ref": ref, "user_id": demoUser, "show_id": demoShow, "seats": 1, "payment_token": demoToken}
}

var (
	reserve = Step{Command: events.ReserveSeats, Compensation: events.ReleaseSeats, KeyField: "show_id"}
	builtin = map[string]Script{
		events.ServiceUser: {Steps: []Step{{Command: events.VerifyUser, KeyField: "user_id"}}},
		events.ServiceBooking: {Steps: []Step{reserve,
			{Command: events.ConfirmBooking, KeyField: "show_id"}}},
		events.ServicePayment: {Prepare: &Prepare{Service: events.ServiceBooking, Step: reserve},
			Steps: []Step{{Command: events.ChargePayment, Compensation: events.RefundPayment, KeyField: "booking_ref", Secrets: []string{"payment_token"}}}},
		events.ServiceNotification: {Steps: []Step{{Command: events.SendNotification, KeyField: "user_id"}}},
	}
)

// ScriptFor returns the script of a built-in service, with the demo
// world's data, or of a declared one (events.Declare), with its sample
// data: the value of its key field is made unique per conversation, so
// that runs never meet each other's entities.
func ScriptFor(service string) (Script, error) {
	if s, ok := builtin[service]; ok {
		s.Service, s.Data = service, demoData
		return s, nil
	}
	d, ok := events.DeclaredService(service)
	if !ok {
		return Script{}, fmt.Errorf("unknown service %q: not built in (%v) nor declared in the services file", service, events.BuiltinServices())
	}
	s := Script{Service: service}
	for _, c := range d.Commands {
		s.Steps = append(s.Steps, Step{Command: c.Name, Compensation: c.Compensation, KeyField: d.Key})
	}
	sample := map[string]any{}
	if len(d.Sample) > 0 {
		if err := json.Unmarshal(d.Sample, &sample); err != nil {
			return Script{}, fmt.Errorf("sample of %s: %w", service, err)
		}
	}
	s.Data = func(n int, sagaID, _ string) map[string]any {
		out := make(map[string]any, len(sample))
		for k, v := range sample {
			out[k] = v
		}
		if d.Key != "" {
			base, _ := sample[d.Key].(string)
			out[d.Key] = fmt.Sprintf("%s-%s", cmp.Or(base, "kit"), sagaID[:8])
		}
		return out
	}
	return s, nil
}
