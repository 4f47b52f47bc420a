// Package bus is the only place that knows how saga talks to Kafka: client
// settings and security, the embedded broker, topic provisioning, the
// Watermill publisher and subscriber plumbing (the envelope as a message,
// consumer groups, the batch publisher and its outbox, dead-lettering),
// and reading the logs by offset: Log, with ReadRange for a range of one
// partition (recovery, replay, a service reading its own log back) and
// ReadRanges for many partitions at once or followed (the read models),
// and ReadAll and Follow on top for inspection and replay.
//
// Client code is identical whether the broker is the embedded one (kfake)
// or Apache Kafka; the broker kind only changes the addresses in Config
// (and, for a secured cluster, its TLS and SASL settings).
package bus
