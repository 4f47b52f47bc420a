package events

import (
	"encoding/base32"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// namespace roots every derived id, so ids are stable across processes,
// restarts and languages (UUID version 5 is a SHA-1 of namespace and name).
var namespace = uuid.MustParse("6f1c2a52-1d0b-4a57-9a53-5f0c3e2b9d11")

// SagaIDFor derives the saga id from a request's idempotency key: the same
// key always names the same saga, so a repeated request starts nothing new.
func SagaIDFor(idempotencyKey string) string {
	return uuid.NewSHA1(namespace, []byte("saga:"+idempotencyKey)).String()
}

// BookingRefFor derives the human-facing booking reference of a saga.
func BookingRefFor(sagaID string) string {
	id := uuid.MustParse(sagaID)
	return "BK-" + base32.StdEncoding.EncodeToString(id[:5])
}

// CommandID derives a command's id from (saga, step, phase, attempt), so a
// command sent twice carries the same id and is recognised.
func CommandID(sagaID, step string, compensation bool, attempt int) string {
	phase := "do"
	if compensation {
		phase = "undo"
	}
	return uuid.NewSHA1(namespace, []byte(strings.Join([]string{"cmd", sagaID, step, phase, strconv.Itoa(attempt)}, ":"))).String()
}

// SagaEventID derives the id of the seq-th event of a saga's log (from 1).
func SagaEventID(sagaID string, seq int) string {
	return uuid.NewSHA1(namespace, []byte("evt:"+sagaID+":"+strconv.Itoa(seq))).String()
}

// DerivedID derives the id of a message caused by another (a reply to a
// command, a domain event for a command): redelivery yields the same id.
// The roles "saga", "cmd" and "evt" are reserved: they would reproduce the
// ids of SagaIDFor, CommandID and SagaEventID.
func DerivedID(causeID, role string) string {
	return uuid.NewSHA1(namespace, []byte(role+":"+causeID)).String()
}
