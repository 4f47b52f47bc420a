package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Validator is implemented by every payload type.
type Validator interface{ Validate() error }

// Upcaster turns a payload of one schema version into the next version.
type Upcaster func(json.RawMessage) (json.RawMessage, error)

// kind describes one message type: its current schema version, how to
// validate a payload of that version, and how to upcast older ones.
type kind struct {
	current  int
	validate func(json.RawMessage) error
	// upcasters[v] turns version v into version v+1.
	upcasters map[int]Upcaster
	// typ is the payload type of the current version.
	typ reflect.Type
}

func kindOf[T Validator](current int, upcasters map[int]Upcaster) kind {
	return kind{
		current: current,
		validate: func(raw json.RawMessage) error {
			_, err := decodeAs[T](raw)
			return err
		},
		upcasters: upcasters,
		typ:       reflect.TypeFor[T](),
	}
}

// kinds is the type registry: a fixed table, written once here, so every
// message type and its versions are named in one place.
var kinds = map[Type]kind{
	StartSaga:  kindOf[StartSagaV1](1, nil),
	StepReply:  kindOf[StepReplyV1](1, nil),
	ResumeSaga: kindOf[ResumeSagaV1](1, nil),

	SagaStarted:         kindOf[SagaStartedV1](1, nil),
	StepStarted:         kindOf[StepStartedV1](1, nil),
	StepSucceeded:       kindOf[StepSucceededV1](1, nil),
	StepFailed:          kindOf[StepFailedV1](1, nil),
	StepTimedOut:        kindOf[StepFailedV1](1, nil),
	CompensationStarted: kindOf[StepStartedV1](1, nil),
	StepCompensated:     kindOf[StepSucceededV1](1, nil),
	CompensationFailed:  kindOf[StepFailedV1](1, nil),
	SagaCompleted:       kindOf[SagaEndedV1](1, nil),
	SagaCompensated:     kindOf[SagaEndedV1](1, nil),
	SagaFailed:          kindOf[SagaEndedV1](1, nil),
	SagaResumed:         kindOf[SagaEndedV1](1, nil),
	SagaStuck:           kindOf[SagaStuckV1](1, nil),

	DefinitionPublished: kindOf[DefinitionPublishedV1](1, nil),

	VerifyUser:       kindOf[CommandV1](1, nil),
	ReserveSeats:     kindOf[CommandV1](1, nil),
	ReleaseSeats:     kindOf[CommandV1](1, nil),
	ConfirmBooking:   kindOf[CommandV1](1, nil),
	ChargePayment:    kindOf[CommandV1](1, nil),
	RefundPayment:    kindOf[CommandV1](1, nil),
	SendNotification: kindOf[CommandV1](1, nil),
	AddShow:          kindOf[CommandV1](1, nil),
	RegisterUser:     kindOf[CommandV1](1, nil),
	RemoveUser:       kindOf[CommandV1](1, nil),
	BlockUser:        kindOf[CommandV1](1, nil),
	UnblockUser:      kindOf[CommandV1](1, nil),

	UserVerified:     kindOf[UserCheckedV1](1, nil),
	UserRejected:     kindOf[UserCheckedV1](1, nil),
	SeatsReserved:    kindOf[SeatsV1](1, nil),
	SeatsRejected:    kindOf[SeatsV1](1, nil),
	SeatsReleased:    kindOf[SeatsV1](1, nil),
	BookingConfirmed: kindOf[SeatsV1](1, nil),
	ShowAdded:        kindOf[ShowAddedV1](1, nil),
	UserRegistered:   kindOf[UserChangedV1](1, nil),
	UserRemoved:      kindOf[UserChangedV1](1, nil),
	UserBlocked:      kindOf[UserChangedV1](1, nil),
	UserUnblocked:    kindOf[UserChangedV1](1, nil),
	PaymentCharged:   kindOf[PaymentV1](1, nil),
	PaymentDeclined:  kindOf[PaymentV1](1, nil),
	PaymentRefunded:  kindOf[PaymentV1](1, nil),
	// Version 2 added the channel; version 1 records were all e-mail.
	NotificationSent: kindOf[NotificationSentV2](2, map[int]Upcaster{1: upcastNotificationSentV1}),
}

// declaredCommand is the kind of every command of a declared service: a
// CommandV1 whose data only its service reads.
var declaredCommand = kindOf[CommandV1](1, nil)

// kindFor looks typ up in the registry, then among the commands of the
// declared services.
func kindFor(typ Type) (kind, bool) {
	if k, ok := kinds[typ]; ok {
		return k, true
	}
	if _, ok := ServiceOf(typ); ok {
		return declaredCommand, true
	}
	return kind{}, false
}

// builtinKnown reports whether typ is a type of the product itself.
func builtinKnown(typ Type) bool {
	_, ok := kinds[typ]
	return ok
}

// CurrentVersion is the schema version new messages of typ are written in.
func CurrentVersion(typ Type) int {
	if k, ok := kindFor(typ); ok {
		return k.current
	}
	return 1
}

// Known reports whether typ is a message type of the product.
func Known(typ Type) bool {
	_, ok := kindFor(typ)
	return ok
}

// MaxPayloadBytes is the largest payload Check accepts: far above any
// booking (a few hundred bytes), and low enough that the dead letter of an
// oversized message (payload, headers and reason) still fits under Kafka's
// default 1 MB message.max.bytes.
const MaxPayloadBytes = 512 << 10

// MaxRequestDataBytes caps a request's data, which every later command and
// saga event carries, so that none of them can outgrow MaxPayloadBytes.
const MaxRequestDataBytes = 64 << 10

// Check makes sure a consumed envelope can be processed: a known type, a
// version this build reads, and a payload that validates. Older versions
// are upcast to the current one, so a log written long ago still replays.
// Every error is a MalformedError.
func Check(e Envelope) (Envelope, error) {
	e, k, err := upcast(e)
	if err != nil {
		return e, err
	}
	if err := k.validate(e.Payload); err != nil {
		return e, err
	}
	return e, nil
}

// CheckAs is Check and Decode at once, for a reader that knows the
// payload type it expects: the payload is decoded once instead of twice.
// T must be the type registered for e.Type; any other type is refused.
func CheckAs[T Validator](e Envelope) (Envelope, T, error) {
	var v T
	e, k, err := upcast(e)
	if err != nil {
		return e, v, err
	}
	if k.typ != reflect.TypeFor[T]() {
		return e, v, malformed("%s carries %v, not %v", e.Type, k.typ, reflect.TypeFor[T]())
	}
	v, err = decodeAs[T](e.Payload)
	return e, v, err
}

// upcast checks an envelope's size, type and version, and brings its
// payload to the current version.
func upcast(e Envelope) (Envelope, kind, error) {
	if n := len(e.Payload); n > MaxPayloadBytes {
		return e, kind{}, malformed("payload of %d bytes is over the limit of %d bytes", n, MaxPayloadBytes)
	}
	k, ok := kindFor(e.Type)
	if !ok {
		return e, k, malformed("unknown type %q", e.Type)
	}
	if e.Version > k.current {
		return e, k, malformed("%s version %d is newer than this build reads (%d)", e.Type, e.Version, k.current)
	}
	for v := e.Version; v < k.current; v++ {
		up, ok := k.upcasters[v]
		if !ok {
			return e, k, malformed("%s version %d cannot be upcast", e.Type, v)
		}
		raw, err := up(e.Payload)
		if err != nil {
			return e, k, malformed("upcast %s from version %d: %v", e.Type, v, err)
		}
		e.Payload, e.Version = raw, v+1
	}
	return e, k, nil
}

// Decode reads a checked envelope's payload as T.
func Decode[T Validator](e Envelope) (T, error) {
	return decodeAs[T](e.Payload)
}

func decodeAs[T Validator](raw json.RawMessage) (T, error) {
	var v T
	if len(bytes.TrimSpace(raw)) == 0 {
		return v, malformed("empty payload")
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, malformed("payload is not valid JSON for %T: %v", v, err)
	}
	if err := v.Validate(); err != nil {
		return v, malformed("invalid %T: %v", v, err)
	}
	return v, nil
}

// MustDecode is Decode for envelopes this process built itself.
func MustDecode[T Validator](e Envelope) T {
	v, err := Decode[T](e)
	if err != nil {
		panic(fmt.Sprintf("decode own %s: %v", e.Type, err))
	}
	return v
}
