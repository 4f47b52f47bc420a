package saga

import "github.com/sagaflow/saga/events"

// Fold applies a saga log event read back from Kafka. Saga event ids are
// derived from (saga id, sequence number), so an event that is not the next
// one expected is a duplicate left by a retried append and is skipped: the
// first write of each sequence number wins. applied is false for skips.
func (m Machine) Fold(s State, e events.Envelope) (next State, applied bool, err error) {
	if e.ID != events.SagaEventID(e.SagaID, s.Seq+1) {
		return s, false, nil
	}
	next, err = m.Apply(s, e)
	return next, err == nil, err
}
