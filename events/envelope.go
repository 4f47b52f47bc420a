package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Header names. Every record carries them as Kafka headers, so a client in
// any language can read who did what, for which booking, and why.
const (
	HeaderID            = "id"
	HeaderType          = "type"
	HeaderVersion       = "version"
	HeaderSagaID        = "saga_id"
	HeaderCorrelationID = "correlation_id"
	HeaderCausationID   = "causation_id"
	HeaderActor         = "actor"
	HeaderOccurredAt    = "occurred_at"

	// MetaKey is the metadata entry the Kafka plumbing turns into the record key.
	MetaKey = "key"
)

// Type names a message type: a command, a reply, a saga event or a
// domain event. It is the record's "type" header and the key of the type
// registry; a distinct type so that it cannot be mistaken for a step, a
// service or a topic name.
type Type string

// Envelope is one message: identity, tracing and the JSON payload.
type Envelope struct {
	ID      string
	Type    Type
	Version int
	// SagaID names the saga the message belongs to.
	SagaID string
	// CorrelationID is the booking reference: one search follows a booking
	// through every service.
	CorrelationID string
	// CausationID is the id of the message that caused this one.
	CausationID string
	// Actor is the identity of the user on whose behalf the message acts.
	Actor      string
	OccurredAt time.Time
	// Key is the Kafka record key: it decides the partition and so the order.
	Key     string
	Payload json.RawMessage
}

// Trace is what a new message inherits from the one that caused it.
type Trace struct {
	SagaID        string
	CorrelationID string
	CausationID   string
	Actor         string
}

// TraceOf returns the trace a message caused by e carries.
func TraceOf(e Envelope) Trace {
	return Trace{SagaID: e.SagaID, CorrelationID: e.CorrelationID, CausationID: e.ID, Actor: e.Actor}
}

// New builds an envelope for payload at the current schema version of typ.
// The id is supplied by the caller so that it can be deterministic.
func New(id string, typ Type, payload any, trace Trace, key string, at time.Time) (Envelope, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return Envelope{
		ID:            id,
		Type:          typ,
		Version:       CurrentVersion(typ),
		SagaID:        trace.SagaID,
		CorrelationID: trace.CorrelationID,
		CausationID:   trace.CausationID,
		Actor:         trace.Actor,
		OccurredAt:    at.UTC(),
		Key:           key,
		Payload:       raw,
	}, nil
}

// MustNew is New for payloads that cannot fail to encode (plain structs).
func MustNew(id string, typ Type, payload any, trace Trace, key string, at time.Time) Envelope {
	e, err := New(id, typ, payload, trace, key, at)
	if err != nil {
		panic(err)
	}
	return e
}

// PutHeaders writes every header of e except its id (which the transport
// carries in its own field) into h, leaving out the optional ones that are
// empty. FromHeaders reads them back; the Kafka plumbing in bus turns them
// into record headers and key.
func PutHeaders(h map[string]string, e Envelope) {
	h[HeaderType] = string(e.Type)
	h[HeaderVersion] = strconv.Itoa(e.Version)
	h[HeaderOccurredAt] = e.OccurredAt.UTC().Format(time.RFC3339Nano)
	setIf(h, HeaderSagaID, e.SagaID)
	setIf(h, HeaderCorrelationID, e.CorrelationID)
	setIf(h, HeaderCausationID, e.CausationID)
	setIf(h, HeaderActor, e.Actor)
	setIf(h, MetaKey, e.Key)
}

func setIf(h map[string]string, k, v string) {
	if v != "" {
		h[k] = v
	}
}

// FromHeaders reads an envelope from record headers and checks that they
// are well formed; id, when not empty, wins over the "id" header. It does
// not look at the payload: see Registry.
func FromHeaders(id string, h map[string]string, payload []byte) (Envelope, error) {
	if id == "" {
		id = h[HeaderID]
	}
	e := Envelope{
		ID:            id,
		Type:          Type(h[HeaderType]),
		SagaID:        h[HeaderSagaID],
		CorrelationID: h[HeaderCorrelationID],
		CausationID:   h[HeaderCausationID],
		Actor:         h[HeaderActor],
		Key:           h[MetaKey],
		Payload:       json.RawMessage(payload),
	}
	if e.ID == "" {
		return e, malformed("missing header %q", HeaderID)
	}
	if e.Type == "" {
		return e, malformed("missing header %q", HeaderType)
	}
	v, err := strconv.Atoi(h[HeaderVersion])
	if err != nil || v < 1 {
		return e, malformed("header %q must be a positive integer, got %q", HeaderVersion, h[HeaderVersion])
	}
	e.Version = v
	if at := h[HeaderOccurredAt]; at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return e, malformed("header %q is not an RFC 3339 time: %q", HeaderOccurredAt, at)
		}
		// PutHeaders writes the UTC form, which RFC 3339 has for years 0-9999 only.
		if t = t.UTC(); t.Year() < 0 || t.Year() > 9999 {
			return e, malformed("header %q is out of range (years 0000-9999 in UTC): %q", HeaderOccurredAt, at)
		}
		e.OccurredAt = t
	}
	return e, nil
}
