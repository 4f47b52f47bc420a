package events

import "slices"

// Topic names. The Kafka plumbing may prefix them with a namespace.
const (
	TopicRequests = "saga.requests"
	TopicSagaLog  = "saga.events"
	TopicReplies  = "saga.replies"
	TopicDLQ      = "saga.dlq"
	// TopicSagaSnapshots holds the orchestrator's snapshots of the sagas
	// of each saga log partition, on the partition of the same number.
	TopicSagaSnapshots = "saga.snapshots"
)

// Participant names; each owns "<name>.commands" and "<name>.events".
const (
	ServiceUser         = "user"
	ServiceBooking      = "booking"
	ServicePayment      = "payment"
	ServiceNotification = "notification"
)

// BuiltinServices lists the participants built into the binary, in the
// order a booking meets them.
func BuiltinServices() []string {
	return []string{ServiceUser, ServiceBooking, ServicePayment, ServiceNotification}
}

// Services lists every participant: the built-ins, then the services
// declared in configuration (see Declare). The slice is the caller's own.
func Services() []string { return slices.Clone(decl().services) }

// CommandTopic is the topic a participant consumes its commands from.
func CommandTopic(service string) string { return service + ".commands" }

// DomainTopic is a participant's own event log.
func DomainTopic(service string) string { return service + ".events" }
