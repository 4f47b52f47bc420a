package saga

import "github.com/sagaflow/saga/events"

// answers checks that r answers a command the saga sent (its id, its
// type, an attempt that was made) and, when the reply's signer is known,
// that the service the command went to signed it. Anything else is
// refused and changes nothing: command ids are derived from public values,
// so knowing one proves nothing.
func (m Machine) answers(s State, r Reply) error {
	id := r.Payload.CommandID
	if !s.Started() {
		return events.Refused(events.RefusedUnknownCommand, "reply to command %s of saga %s, which has not started", id, r.Envelope.SagaID)
	}
	def, err := m.load().pinned(s.Definition, s.DefinitionVersion)
	if err != nil {
		return err
	}
	for _, st := range s.Steps {
		step, ok := def.step(st.Name)
		if !ok {
			continue
		}
		phases := [...]struct {
			undo     bool
			command  events.Type
			attempts int
		}{{false, step.Command, st.Attempt}, {true, step.Compensation, st.CompAttempt}}
		for _, ph := range phases {
			if ph.command == "" || !sent(s.SagaID, step.Name, ph.undo, ph.attempts, id) {
				continue
			}
			if r.Payload.Command != ph.command {
				return events.Refused(events.RefusedUnknownCommand, "reply says command %s was %s; saga %s sent it as %s", id, r.Payload.Command, s.SagaID, ph.command)
			}
			if r.Signer != "" && r.Signer != step.Service {
				return events.Refused(events.RefusedSignerNotAllowed, "%s answered %s %s, which saga %s sent to %s", r.Signer, ph.command, id, s.SagaID, step.Service)
			}
			return nil
		}
	}
	return events.Refused(events.RefusedUnknownCommand, "saga %s sent no command %s (%s)", s.SagaID, id, r.Payload.Command)
}

// sent reports whether id is the command of one of the first attempts of
// step's action (or, with undo, of its compensation).
func sent(sagaID, step string, undo bool, attempts int, id string) bool {
	for a := attempts; a >= 1; a-- { // the latest is the likeliest
		if events.CommandID(sagaID, step, undo, a) == id {
			return true
		}
	}
	return false
}
