// Package events defines the messages of the product: the envelope every
// Kafka record carries, every request, command, reply and event payload,
// the type registry with validation and upcasting, and the deterministic
// ids that make redelivery harmless. It does no I/O.
package events
