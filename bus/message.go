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
