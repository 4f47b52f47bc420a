package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/sagaflow/saga/events"
)

// decoders decodes a checked envelope as the payload type of its type.
var decoders = map[events.Type]func(events.Envelope) error{}

func decoderOf[T events.Validator](types ...events.Type) {
	for _, typ := range types {
		decoders[typ] = func(e events.Envelope) error { _, err := events.Decode[T](e); return err }
	}
}

func init() {
	decoderOf[events.StartSagaV1](events.StartSaga)
	decoderOf[events.StepReplyV1](events.StepReply)
	decoderOf[events.SagaStartedV1](events.SagaStarted)
	decoderOf[events.StepStartedV1](events.StepStarted, events.CompensationStarted)
	decoderOf[events.StepSucceededV1](events.StepSucceeded, events.StepCompensated)
	decoderOf[events.StepFailedV1](events.StepFailed, events.StepTimedOut, events.CompensationFailed)
	decoderOf[events.SagaEndedV1](events.SagaCompleted, events.SagaCompensated, events.SagaFailed, events.SagaResumed)
	decoderOf[events.ResumeSagaV1](events.ResumeSaga)
	decoderOf[events.SagaStuckV1](events.SagaStuck)
	decoderOf[events.DefinitionPublishedV1](events.DefinitionPublished)
	decoderOf[events.CommandV1](events.VerifyUser, events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking,
		events.ChargePayment, events.RefundPayment, events.SendNotification)
	decoderOf[events.UserCheckedV1](events.UserVerified, events.UserRejected)
	decoderOf[events.SeatsV1](events.SeatsReserved, events.SeatsRejected, events.SeatsReleased, events.BookingConfirmed)
	decoderOf[events.PaymentV1](events.PaymentCharged, events.PaymentDeclined, events.PaymentRefunded)
	decoderOf[events.NotificationSentV1](events.NotificationSent)
	decoderOf[events.CommandV1](events.AddShow)
	decoderOf[events.ShowAddedV1](events.ShowAdded)
	decoderOf[events.CommandV1](events.RegisterUser, events.RemoveUser, events.BlockUser, events.UnblockUser)
	decoderOf[events.UserChangedV1](events.UserRegistered, events.UserRemoved, events.UserBlocked, events.UserUnblocked)
}

func TestDecodersCoverRegistry(t *testing.T) {
	for _, typ := range events.RegisteredTypes() {
		dec, ok := decoders[typ]
		if !ok {
			t.Errorf("no decoder for %s", typ)
			continue
		}
		if err := dec(env(typ, 1, validPayloads[typ])); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

// representable reports whether PutHeaders can write t as a time FromHeaders
// reads back: RFC 3339 has four-digit years only. (FromHeaders accepts
// times outside that range today: see TestFromHeadersOccurredAtOutOfRange.)
func representable(e events.Envelope) bool {
	y := e.OccurredAt.UTC().Year()
	return y >= 0 && y <= 9999
}

func FuzzFromHeadersCheck(f *testing.F) {
	for typ, p := range validPayloads {
		f.Add("id-1", string(typ), "1", "2025-03-14T15:09:26.535897932Z", []byte(p))
	}
	f.Add("", string(events.StepReply), "1", "", []byte(`{}`))
	f.Add("id", string(events.StepReply), "2", "2025-03-14T15:09:26Z", []byte(validPayloads[events.StepReply]))
	f.Add("id", string(events.StepReply), "0", "", []byte(`null`))
	f.Add("id", string(events.StepReply), "-1", "x", []byte(nil))
	f.Add("id", "Nope", "1", "2025-03-14T16:09:26+01:00", []byte(`{"a":1}`))
	f.Add("id", string(events.StartSaga), "1", "", []byte(`{"definition":"d","idempotency_key":"k","booking_ref":"b","data":[]}`))
	f.Add("id", string(events.StepSucceeded), "1", "", []byte(`{"step":"s","attempt":1,"result":null}`))
	f.Add("id", string(events.StepStarted), "+1", "", []byte(`{"step":"s","attempt":1e3,"command_id":"c","command":"C","deadline":"2025-13-01T00:00:00Z"}`))
	f.Add("id", string(events.ReserveSeats), "01", "", []byte("\xff\xfe{"))

	f.Fuzz(func(t *testing.T, id, typ, version, occurredAt string, payload []byte) {
		h := map[string]string{
			events.HeaderID: id, events.HeaderType: typ, events.HeaderVersion: version, events.HeaderOccurredAt: occurredAt,
			events.HeaderSagaID: "saga-1",
		}
		e, err := events.FromHeaders("", h, payload)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("FromHeaders: %v is not ErrMalformed", err)
			}
			return
		}
		if e.ID == "" || e.Type == "" || e.Version < 1 {
			t.Fatalf("FromHeaders accepted %+v", e)
		}
		checked, err := events.Check(e)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Check: %v is not ErrMalformed", err)
			}
			var me *events.MalformedError
			if !errors.As(err, &me) || me.Reason == "" {
				t.Fatalf("Check: %v has no reason", err)
			}
			return
		}
		// Accepted: a known type at its current version whose payload
		// decodes as its type, and which checks again unchanged.
		if !events.Known(checked.Type) || checked.Version != events.CurrentVersion(checked.Type) {
			t.Fatalf("Check accepted %s v%d", checked.Type, checked.Version)
		}
		if err := decoders[checked.Type](checked); err != nil {
			t.Fatalf("Check accepted a payload Decode rejects: %v", err)
		}
		if again, err := events.Check(checked); err != nil || !reflect.DeepEqual(again, checked) {
			t.Fatalf("Check is not idempotent: %+v, %v", again, err)
		}
		if !json.Valid(checked.Payload) {
			t.Fatalf("Check accepted invalid JSON %q", checked.Payload)
		}
		// An accepted envelope can be forwarded: written and read again.
		if !representable(checked) {
			return
		}
		back, err := reread(checked)
		if err != nil {
			t.Fatalf("re-reading an accepted envelope: %v", err)
		}
		if !back.OccurredAt.Equal(checked.OccurredAt) {
			t.Fatalf("occurred_at %v became %v", checked.OccurredAt, back.OccurredAt)
		}
		back.OccurredAt = checked.OccurredAt
		if !reflect.DeepEqual(back, checked) {
			t.Fatalf("re-read %#v, want %#v", back, checked)
		}
	})
}

func FuzzDecodeStartSaga(f *testing.F) {
	f.Add([]byte(validPayloads[events.StartSaga]))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"definition":"d","idempotency_key":"k","booking_ref":"b","data":{"a":{"b":[1,2,{"c":null}]}}}`))
	f.Add([]byte(`{"definition":"d","idempotency_key":"k","booking_ref":"b","data":"{}"}`))
	f.Add([]byte(`{"DEFINITION":"d","Idempotency_Key":"k","booking_ref":"b","data":{},"extra":1}`))
	f.Add([]byte(`{"definition":"d","definition":"","idempotency_key":"k","booking_ref":"b","data":{}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := events.Envelope{ID: "id", Type: events.StartSaga, Version: 1, Payload: payload}
		p, err := events.Decode[events.StartSagaV1](e)
		_, checkErr := events.Check(e)
		if (err == nil) != (checkErr == nil) {
			t.Fatalf("Decode err %v but Check err %v", err, checkErr)
		}
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Decode: %v is not ErrMalformed", err)
			}
			return
		}
		if p.Definition == "" || p.IdempotencyKey == "" || p.BookingRef == "" || !isJSONObject(p.Data) {
			t.Fatalf("Decode accepted %+v", p)
		}
		if verr := p.Validate(); verr != nil {
			t.Fatalf("decoded payload does not validate: %v", verr)
		}
		// Written again, the payload decodes to the same request.
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := events.Decode[events.StartSagaV1](events.Envelope{Payload: raw})
		if err != nil {
			t.Fatalf("re-decode %s: %v", raw, err)
		}
		if again.Definition != p.Definition || again.IdempotencyKey != p.IdempotencyKey || again.BookingRef != p.BookingRef {
			t.Fatalf("re-decoded %+v, want %+v", again, p)
		}
		var a, b any
		if json.Unmarshal(p.Data, &a) != nil || json.Unmarshal(again.Data, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("data changed: %s -> %s", p.Data, again.Data)
		}
	})
}

func isJSONObject(raw json.RawMessage) bool {
	var m map[string]any
	return json.Unmarshal(raw, &m) == nil && m != nil
}
