package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Saga log event types (topic saga.events, key saga id).
const (
	SagaStarted         Type = "SagaStarted"
	StepStarted         Type = "StepStarted"
	StepSucceeded       Type = "StepSucceeded"
	StepFailed          Type = "StepFailed"
	StepTimedOut        Type = "StepTimedOut"
	CompensationStarted Type = "CompensationStarted"
	StepCompensated     Type = "StepCompensated"
	CompensationFailed  Type = "CompensationFailed"
	SagaCompleted       Type = "SagaCompleted"
	SagaCompensated     Type = "SagaCompensated"
	SagaFailed          Type = "SagaFailed"
	// SagaResumed records an operator's retry of a failed saga: its
	// compensation starts again.
	SagaResumed Type = "SagaResumed"
	// SagaStuck records the watchdog's finding that a saga needs an
	// operator: it ran past its SLO, or it was parked as failed. It is
	// reported once until an operator resumes the saga, and it is in the
	// log so that the history and every replay show it.
	SagaStuck Type = "SagaStuck"
)

// Request and reply types.
const (
	StartSaga  Type = "StartSaga"
	StepReply  Type = "StepReply"
	ResumeSaga Type = "ResumeSaga"
)

// ResumeSagaV1 asks the orchestrator to retry a failed saga once an
// operator has fixed what made its compensation fail.
type ResumeSagaV1 struct {
	Reason string `json:"reason,omitempty"`
}

// Validate reports what is wrong with a ResumeSagaV1 payload (events.Check calls it).
func (p ResumeSagaV1) Validate() error { return nil }

// StartSagaV1 asks the orchestrator to run a saga definition. Its saga id
// is derived from the idempotency key, so a repeated request is recognised.
type StartSagaV1 struct {
	Definition     string          `json:"definition"`
	IdempotencyKey string          `json:"idempotency_key"`
	BookingRef     string          `json:"booking_ref"`
	Data           json.RawMessage `json:"data"`
}

// Validate reports what is wrong with a StartSagaV1 payload (events.Check calls it).
func (p StartSagaV1) Validate() error {
	var errs []error
	if p.Definition == "" {
		errs = append(errs, errors.New("definition is required"))
	}
	if p.IdempotencyKey == "" {
		errs = append(errs, errors.New("idempotency_key is required"))
	}
	if p.BookingRef == "" {
		errs = append(errs, errors.New("booking_ref is required"))
	}
	if !isObject(p.Data) {
		errs = append(errs, errors.New("data must be a JSON object"))
	}
	if len(p.Data) > MaxRequestDataBytes {
		errs = append(errs, fmt.Errorf("data of %d bytes is over the limit of %d bytes", len(p.Data), MaxRequestDataBytes))
	}
	return errors.Join(errs...)
}

// SagaStartedV1 opens a saga in the log.
type SagaStartedV1 struct {
	Definition string `json:"definition"`
	// DefinitionVersion is the version of the definition the saga runs by
	// to its end; absent in sagas logged before versions were recorded.
	DefinitionVersion string `json:"definition_version,omitempty"`
	// DefinitionSpec is that version's definition file, as JSON: the log
	// replays by it anywhere, whatever definitions the reader was given.
	DefinitionSpec json.RawMessage `json:"definition_spec,omitempty"`
	IdempotencyKey string          `json:"idempotency_key"`
	BookingRef     string          `json:"booking_ref"`
	Data           json.RawMessage `json:"data"`
}

// Validate reports what is wrong with a SagaStartedV1 payload (events.Check calls it).
func (p SagaStartedV1) Validate() error {
	err := StartSagaV1{Definition: p.Definition, IdempotencyKey: p.IdempotencyKey, BookingRef: p.BookingRef, Data: p.Data}.Validate()
	if len(p.DefinitionSpec) > 0 && (p.DefinitionSpec[0] != '{' || !json.Valid(p.DefinitionSpec)) {
		err = errors.Join(err, errors.New("definition_spec must be a JSON object"))
	}
	return err
}

// StepV1 names a step attempt; the common part of the step events.
type StepV1 struct {
	Step    string `json:"step"`
	Attempt int    `json:"attempt"`
}

// Validate reports what is wrong with a StepV1 payload (events.Check calls it).
func (p StepV1) Validate() error {
	var errs []error
	if p.Step == "" {
		errs = append(errs, errors.New("step is required"))
	}
	if p.Attempt < 1 {
		errs = append(errs, fmt.Errorf("attempt must be at least 1, got %d", p.Attempt))
	}
	return errors.Join(errs...)
}

// StepStartedV1 records that a command was sent, with its deadline, so a
// timeout survives a restart of the orchestrator. CompensationStarted uses
// the same shape.
type StepStartedV1 struct {
	StepV1
	CommandID string    `json:"command_id"`
	Command   Type      `json:"command"`
	Deadline  time.Time `json:"deadline"`
}

// Validate reports what is wrong with a StepStartedV1 payload (events.Check calls it).
func (p StepStartedV1) Validate() error {
	var errs []error
	errs = append(errs, p.StepV1.Validate())
	if p.CommandID == "" {
		errs = append(errs, errors.New("command_id is required"))
	}
	if p.Command == "" {
		errs = append(errs, errors.New("command is required"))
	}
	return errors.Join(errs...)
}

// StepSucceededV1 records a step's success and the data it adds to the saga
// (merged into the data later commands carry). StepCompensated uses it too.
type StepSucceededV1 struct {
	StepV1
	Result json.RawMessage `json:"result,omitempty"`
}

// Validate reports what is wrong with a StepSucceededV1 payload (events.Check calls it).
func (p StepSucceededV1) Validate() error {
	if !isOptionalObject(p.Result) {
		return errors.Join(p.StepV1.Validate(), errors.New("result must be a JSON object"))
	}
	return p.StepV1.Validate()
}

// StepFailedV1 records a failed attempt of a step or of its compensation.
// RetryAt is set when another attempt follows; zero means no retry.
type StepFailedV1 struct {
	StepV1
	Reason  string    `json:"reason"`
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// Validate reports what is wrong with a StepFailedV1 payload (events.Check calls it).
func (p StepFailedV1) Validate() error { return p.StepV1.Validate() }

// SagaEndedV1 closes a saga: completed, compensated or failed.
type SagaEndedV1 struct {
	Reason string `json:"reason,omitempty"`
}

// Validate reports what is wrong with a SagaEndedV1 payload (events.Check calls it).
func (p SagaEndedV1) Validate() error { return nil }

// Why a saga is stuck (SagaStuckV1.Reason).
const (
	// StuckSLO: the saga, or one of its steps, has run longer than its SLO.
	StuckSLO = "slo"
	// StuckFailed: a compensation could not be done and the saga is parked.
	StuckFailed = "failed"
)

// SagaStuckV1 says why a saga is stuck: the SLO it ran past (the saga's
// when Step is empty, else that step's), since when it has been running,
// or that it was parked as failed.
type SagaStuckV1 struct {
	Reason string `json:"reason"`
	Step   string `json:"step,omitempty"`
	// SLO is the duration that was exceeded, as Go writes it ("5m15s");
	// empty for a failed saga.
	SLO   string    `json:"slo,omitempty"`
	Since time.Time `json:"since"`
}

// Validate reports what is wrong with a SagaStuckV1 payload (events.Check calls it).
func (p SagaStuckV1) Validate() error {
	var errs []error
	switch p.Reason {
	case StuckSLO:
		if _, err := time.ParseDuration(p.SLO); err != nil {
			errs = append(errs, fmt.Errorf("slo must be a duration, got %q", p.SLO))
		}
	case StuckFailed:
	default:
		errs = append(errs, fmt.Errorf("reason must be %s or %s, got %q", StuckSLO, StuckFailed, p.Reason))
	}
	if p.Since.IsZero() {
		errs = append(errs, errors.New("since is required"))
	}
	return errors.Join(errs...)
}

// Outcomes of a participant's handling of a command.
const (
	OutcomeSucceeded = "succeeded"
	// OutcomeFailed is a business refusal: retrying will not change it.
	OutcomeFailed = "failed"
	// OutcomeRetryable is a transient failure: another attempt may succeed.
	OutcomeRetryable = "retryable"
)

// StepReplyV1 is a participant's answer to one command.
type StepReplyV1 struct {
	CommandID string          `json:"command_id"`
	Command   Type            `json:"command"`
	Outcome   string          `json:"outcome"`
	Reason    string          `json:"reason,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Validate reports what is wrong with a StepReplyV1 payload (events.Check calls it).
func (p StepReplyV1) Validate() error {
	var errs []error
	if p.CommandID == "" {
		errs = append(errs, errors.New("command_id is required"))
	}
	switch p.Outcome {
	case OutcomeSucceeded, OutcomeFailed, OutcomeRetryable:
	default:
		errs = append(errs, fmt.Errorf("outcome must be succeeded, failed or retryable, got %q", p.Outcome))
	}
	if !isOptionalObject(p.Data) {
		errs = append(errs, errors.New("data must be a JSON object"))
	}
	return errors.Join(errs...)
}

// isOptionalObject accepts an absent or null field, or a JSON object.
func isOptionalObject(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null" || isObject(raw)
}

// isObject checks the JSON without building it: this runs on every
// message, and a scan allocates nothing.
func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
