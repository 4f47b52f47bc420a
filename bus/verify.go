package bus

import (
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// signedHeaders returns the headers of md a signature covers, and the
// signature headers themselves, with the id given apart (a watermill
// message carries it as its UUID).
func signedHeaders(id string, md map[string]string) map[string]string {
	h := make(map[string]string, len(sign.Signed)+4)
	for _, k := range sign.Signed {
		if v := md[k]; v != "" {
			h[k] = v
		}
	}
	for k, v := range md {
		if sign.IsHeader(k) {
			h[k] = v
		}
	}
	if id != "" {
		h[HeaderID] = id
	}
	return h
}

// signs reports whether a message about to be written is signed by its
// writer: not without a key, and not when the message is a copy passed on
// as it was received (a dead letter, a redrive, a record forwarded to its
// key's partition), which keeps its writer's signature.
func (m Marshaler) signs(md message.Metadata) bool {
	if m.Signer == nil || md.Get(sign.HeaderKeyID) != "" {
		return false
	}
	return md.Get(middleware.ReasonForPoisonedKey) == ""
}

// signatureOf returns the headers that sign a record written to topic, for
// every principal that reads the topic.
func (m Marshaler) signatureOf(topic, key, id string, md message.Metadata, payload []byte) (map[string]string, error) {
	if m.Trust == nil {
		return nil, errors.New("bus: signing needs the keyring of the readers")
	}
	logical, _ := Config{Namespace: m.Namespace}.Unprefixed(topic)
	return m.Trust.Sign(m.Signer, sign.Record{Topic: topic, Key: key, Headers: signedHeaders(id, md), Payload: payload},
		events.ReadersOf(logical), time.Now())
}

// VerifyMessage checks a consumed message as VerifyRecord does.
func (c Config) VerifyMessage(msg *message.Message, at time.Time) (string, error) {
	return c.verify(sign.Record{Topic: msg.Metadata.Get(MetaTopic), Key: msg.Metadata.Get(MetaKey),
		Headers: signedHeaders(msg.UUID, msg.Metadata), Payload: msg.Payload}, at)
}

// VerifyRecord checks, before anything acts on r, that it is signed by a
// key of the keyring (valid at time at), for this part (whose own key,
// Signer, checks it), by a principal that may write the topic it was read
// from, and returns that principal. A record that
// fails is refused (events.RefusedError): unsigned, bad_signature or
// signer_not_allowed. Without a keyring it returns "" and no error.
func (c Config) VerifyRecord(r Record, at time.Time) (string, error) {
	return c.verify(sign.Record{Topic: r.Topic, Key: string(r.Key), Headers: signedHeaders("", r.Headers), Payload: r.Value}, at)
}

func (c Config) verify(r sign.Record, at time.Time) (string, error) {
	if c.Trust == nil {
		return "", nil
	}
	typ := r.Headers[events.HeaderType]
	if c.Signer == nil {
		return "", events.Refused(events.RefusedBadSignature, "%s on %s: this part has no key to check signatures with", typ, r.Topic)
	}
	signer, err := c.Trust.Verify(c.Signer, r, at)
	switch {
	case errors.Is(err, sign.ErrUnsigned):
		return "", events.Refused(events.RefusedUnsigned, "%s on %s carries no signature", typ, r.Topic)
	case err != nil:
		return "", events.Refused(events.RefusedBadSignature, "%s on %s: %v", typ, r.Topic, err)
	}
	topic, ok := c.Unprefixed(r.Topic)
	if !ok || !events.MayWrite(signer, topic) {
		return signer, events.Refused(events.RefusedSignerNotAllowed, "%s may not write %s on %s", signer, typ, r.Topic)
	}
	return signer, nil
}

// VerifyLogged checks a record of a log being folded (a recovery, a read
// model) as VerifyRecord does, at the time the log says it was written:
// the history a key signed before it was retired stays readable.
func (c Config) VerifyLogged(r Record) (string, error) { return c.VerifyRecord(r, r.Timestamp) }

// CheckLogged is CheckRecord for a part that trusts only signed records:
// a record of a log that VerifyLogged refuses is refused before it is read.
func (c Config) CheckLogged(r Record) (events.Envelope, error) {
	if _, err := c.VerifyLogged(r); err != nil {
		env, _ := events.FromHeaders("", r.Headers, r.Value)
		return env, err
	}
	return CheckRecord(r)
}
