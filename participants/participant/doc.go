// Package participant runs one participant service (a service.Service)
// against Kafka: it folds the service's own domain log into its state at
// start, consumes the service's command topic, applies each command at
// most once, appends the resulting domain event, and replies to the
// orchestrator.
package participant
