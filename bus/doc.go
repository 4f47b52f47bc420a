// Package bus is the only place that knows how saga talks to Kafka: client
// settings, the embedded broker, topic provisioning, the Watermill
// publisher/subscriber plumbing and raw log reading for inspection and
// replay.
//
// Client code is identical whether the broker is the embedded one (kfake)
// or Apache Kafka; the broker kind only changes the addresses in Config
// (and, for a secured cluster, its TLS and SASL settings).
package bus
