package projections

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// SagaView is one saga as `saga inspect` shows it.
type SagaView struct {
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	Definition string `json:"definition"`
	// DefinitionVersion is the version of the definition the saga runs
	// by; empty for a saga logged before versions were recorded.
	DefinitionVersion string          `json:"definition_version,omitempty"`
	Status            string          `json:"status"`
	Actor             string          `json:"actor"`
	Reason            string          `json:"reason,omitempty"`
	StartedAt         time.Time       `json:"started_at"`
	UpdatedAt         time.Time       `json:"updated_at"`
	Steps             []StepView      `json:"steps"`
	Events            []EventView     `json:"events"`
	Data              json.RawMessage `json:"data,omitempty"`
	// Stuck is set while the saga needs an operator (StuckOf).
	Stuck *StuckView `json:"stuck,omitempty"`
}

// StuckView says why a saga needs an operator: the watchdog's report
// (events.StuckSLO with the step whose SLO it ran past, or
// events.StuckFailed) and when it was made.
type StuckView struct {
	Reason string    `json:"reason"`
	Step   string    `json:"step,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// StuckOf is the saga's StuckView while it needs an operator, else nil. A
// failed saga of a log written before the watchdog has no report yet and
// is stuck all the same.
func StuckOf(s saga.State) *StuckView {
	if !s.StuckNow() {
		return nil
	}
	if s.Status == saga.StatusFailed && s.Stuck != events.StuckFailed {
		return &StuckView{Reason: events.StuckFailed, At: s.StuckAt}
	}
	return &StuckView{Reason: s.Stuck, Step: s.StuckStep, At: s.StuckAt}
}

// StepView is one step of a saga.
type StepView struct {
	Name              string    `json:"name"`
	Status            string    `json:"status"`
	Attempts          int       `json:"attempts"`
	CompensationTries int       `json:"compensation_attempts,omitempty"`
	StartedAt         time.Time `json:"started_at,omitzero"`
	EndedAt           time.Time `json:"ended_at,omitzero"`
	Reason            string    `json:"reason,omitempty"`
}

// EventView is one entry of a saga's timeline.
type EventView struct {
	Seq  int       `json:"seq"`
	Type string    `json:"type"`
	Step string    `json:"step,omitempty"`
	At   time.Time `json:"at"`
}

// Sagas folds the saga log into a view per saga.
type Sagas struct {
	machine saga.Machine
	states  map[string]saga.State
	events  map[string][]EventView
	byRef   map[string][]string
	order   []string
}

// NewSagas returns an empty fold for the given definitions.
func NewSagas(defs saga.Definitions) *Sagas { return NewSagasWith(saga.NewMachine(defs)) }

// NewSagasWith is NewSagas folding with m, and the definitions it knows.
func NewSagasWith(m saga.Machine) *Sagas {
	return &Sagas{machine: m, states: map[string]saga.State{},
		events: map[string][]EventView{}, byRef: map[string][]string{}}
}

// Add folds one checked saga log event; duplicates and events that do not
// fit are skipped (the orchestrator's fold skips the same ones).
func (p *Sagas) Add(e events.Envelope) {
	s, applied, err := p.machine.Fold(p.states[e.SagaID], e)
	if err != nil || !applied {
		return
	}
	if s.Seq == 1 {
		p.order = append(p.order, e.SagaID)
		p.byRef[s.BookingRef] = insertByStart(p.byRef[s.BookingRef], e.SagaID, s.StartedAt, p.states)
	}
	p.states[e.SagaID] = s
	var step struct {
		Step string `json:"step"`
	}
	_ = json.Unmarshal(e.Payload, &step)
	p.events[e.SagaID] = append(p.events[e.SagaID], EventView{Seq: s.Seq, Type: string(e.Type), Step: step.Step, At: e.OccurredAt})
}

// State returns the folded state of a saga.
func (p *Sagas) State(sagaID string) (saga.State, bool) {
	s, ok := p.states[sagaID]
	return s, ok
}

// Find returns the saga with the given id, or the latest saga of the given
// booking reference (a booking and its cancellation share the reference).
func (p *Sagas) Find(idOrRef string) (SagaView, bool) {
	if _, ok := p.states[idOrRef]; ok {
		return p.view(idOrRef), true
	}
	if ids := p.byRef[idOrRef]; len(ids) > 0 {
		return p.view(ids[len(ids)-1]), true
	}
	return SagaView{}, false
}

// ByRef returns every saga of a booking reference, oldest first.
func (p *Sagas) ByRef(ref string) []SagaView {
	var out []SagaView
	for _, id := range p.byRef[ref] {
		out = append(out, p.view(id))
	}
	return out
}

// StatusStuck is the status that, given to List, selects the sagas that need an operator
// (StuckOf) whatever their status.
const StatusStuck = "stuck"

// List returns the sagas in the order they started, filtered by status
// when status is not empty.
func (p *Sagas) List(status string) []SagaView {
	out := []SagaView{}
	for _, id := range p.order {
		st := p.states[id]
		if status == "" || string(st.Status) == status || (status == StatusStuck && st.StuckNow()) {
			out = append(out, p.view(id))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out
}

// view is saga id as people see it: its payment token redacted.
func (p *Sagas) view(id string) SagaView {
	s := p.states[id]
	v := SagaView{SagaID: s.SagaID, BookingRef: s.BookingRef, Definition: s.Definition, DefinitionVersion: s.DefinitionVersion, Status: string(s.Status),
		Actor: s.Actor, Reason: s.Reason, StartedAt: s.StartedAt, UpdatedAt: s.UpdatedAt, Data: events.Redact(s.Data),
		Events: append([]EventView(nil), p.events[id]...), Stuck: StuckOf(s)}
	for _, st := range s.Steps {
		v.Steps = append(v.Steps, StepView{Name: st.Name, Status: string(st.Status), Attempts: st.Attempt,
			CompensationTries: st.CompAttempt, StartedAt: st.StartedAt, EndedAt: st.EndedAt, Reason: st.Reason})
	}
	return v
}

// insertByStart keeps a booking's sagas oldest first whatever order the
// partitions are read in: a booking and its cancellation may live on
// different partitions of the saga log.
func insertByStart(ids []string, id string, at time.Time, states map[string]saga.State) []string {
	i := sort.Search(len(ids), func(i int) bool { return states[ids[i]].StartedAt.After(at) })
	ids = append(ids, "")
	copy(ids[i+1:], ids[i:])
	ids[i] = id
	return ids
}

// Kind is what a saga does to a booking, as reconcile and the read models
// see it.
type Kind int

// Kinds of saga.
const (
	KindOther Kind = iota
	// KindBook books: book-ticket, or any definition of one's own whose
	// steps reserve seats or charge a card (a hotel step beside them).
	KindBook
	// KindCancel undoes a booking: a refund is one of its steps.
	KindCancel
)

// KindOf tells by the steps of the definition version a saga runs, not by
// its name, so that the definitions users write are reconciled too.
func KindOf(m saga.Machine, s saga.State) Kind {
	def, ok := m.Pinned(s)
	if !ok {
		return KindOther
	}
	kind := KindOther
	for _, st := range def.Steps {
		switch st.Command {
		case events.RefundPayment:
			return KindCancel
		case events.ReserveSeats, events.ChargePayment:
			kind = KindBook
		}
	}
	return kind
}

// Kind is KindOf the saga, by the definitions this fold has met.
func (p *Sagas) Kind(s saga.State) Kind { return KindOf(p.machine, s) }
