package bus

import (
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// signedHeaders returns the headers a signature covers, read from get,
// with the id given apart (a watermill message carries it as its UUID).
func signedHeaders(id string, get func(string) string) map[string]string {
	h := make(map[string]string, len(sign.Signed)+2)
	for _, k := range sign.Signed {
		if v := get(k); v != "" {
			h[k] = v
		}
	}
	if id != "" {
		h[HeaderID] = id
	}
	h[sign.HeaderSignature], h[sign.HeaderKeyID] = get(sign.HeaderSignature), get(sign.HeaderKeyID)
	return h
}

// signs reports whether a message about to be written to topic is signed
// by its writer: not when signer is nil, and not when the message is a
// copy passed on as it was received (a dead letter, a redrive, a record
// forwarded to its key's partition), which keeps its writer's signature.
func signs(signer *sign.Key, md message.Metadata) bool {
	if signer == nil || md.Get(sign.HeaderSignature) != "" {
		return false
	}
	return md.Get(middleware.ReasonForPoisonedKey) == ""
}

// signatureOf returns the signature headers of a record written to topic.
func signatureOf(signer *sign.Key, topic, key, id string, md message.Metadata, payload []byte) (sig, kid string) {
	return signer.Sign(sign.Record{Topic: topic, Key: key, Headers: signedHeaders(id, md.Get), Payload: payload})
}

// VerifyMessage checks a consumed message as VerifyRecord does.
func (c Config) VerifyMessage(msg *message.Message, at time.Time) (string, error) {
	return c.verify(sign.Record{Topic: msg.Metadata.Get(MetaTopic), Key: msg.Metadata.Get(MetaKey),
		Headers: signedHeaders(msg.UUID, msg.Metadata.Get), Payload: msg.Payload}, at)
}

// VerifyRecord checks, before anything acts on r, that it is signed by a
// key of the keyring (valid at time at) whose principal may write the
// topic it was read from, and returns that principal. A record that
// fails is refused (events.RefusedError): unsigned, bad_signature or
// signer_not_allowed. Without a keyring it returns "" and no error.
func (c Config) VerifyRecord(r Record, at time.Time) (string, error) {
	get := func(k string) string { return r.Headers[k] }
	return c.verify(sign.Record{Topic: r.Topic, Key: string(r.Key), Headers: signedHeaders("", get), Payload: r.Value}, at)
}

func (c Config) verify(r sign.Record, at time.Time) (string, error) {
	if c.Trust == nil {
		return "", nil
	}
	typ := r.Headers[events.HeaderType]
	signer, err := c.Trust.Verify(r, at)
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
