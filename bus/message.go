package bus

import (
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/events"
)

// ToMessage turns an envelope into a watermill message whose metadata
// becomes the record's headers and key (see Marshaler); the envelope's id
// is the message UUID.
func ToMessage(e events.Envelope) *message.Message {
	msg := message.NewMessage(e.ID, []byte(e.Payload))
	events.PutHeaders(msg.Metadata, e)
	return msg
}

// FromMessage reads the envelope of a consumed message and checks that its
// headers are well formed. It does not look at the payload: see
// events.Registry.
func FromMessage(msg *message.Message) (events.Envelope, error) {
	return events.FromHeaders(msg.UUID, msg.Metadata, msg.Payload)
}

// CheckRecord reads the envelope of a record read from a log, as every
// reader of the logs does: its headers (the record key when no "key"
// header says otherwise), checked and upcast by events.Check.
func CheckRecord(r Record) (events.Envelope, error) {
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err != nil {
		return e, err
	}
	if e.Key == "" {
		e.Key = string(r.Key)
	}
	return events.Check(e)
}
