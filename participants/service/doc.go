// Package service is the port a participant service implements: the
// domain logic of one service, free of I/O, and Once, the idempotency the
// runtime puts in front of it. It imports only the events package and the
// standard library (scripts/purity.sh holds it to that), so a service and
// its tests need no Kafka; package participant runs a Service against
// Kafka, and package participanttest drives one in tests.
//
// # Adding a service
//
// A fifth Go service is about one file, participants/<name>/<name>.go
// (example_test.go here is one, a guest list, with its test):
//
//   - Implement Service. Name is the service's name: it owns the topics
//     "<name>.commands" and "<name>.events". Handle decides, as one domain
//     event whose payload embeds events.Handled with the command's id
//     (its id events.DerivedID(cmd.ID, "event"), its trace
//     events.TraceOf(cmd)), never changes state, and decides the same
//     from the same state and command (no randomness; the clock only
//     stamps the event), as a command whose event a crash lost is decided
//     again after its reply was sent; Apply folds an event
//     into the state, reading it with events.CheckAs. Read command data
//     with events.CommandV1.Booking or Data; refuse what cannot be read
//     with events.Malformed (the runtime sends it to the dead letters).
//     Whatever the outside world provides (a payment processor, a phone
//     network) is an interface the constructor takes.
//   - Keep no command ids: Once answers a repeated command id with its
//     original reply and folds one event per command id. What the state
//     must still handle is the same request under a new command id (a
//     retried attempt) and a compensation that arrives before its command:
//     record it (a tombstone, as booking's Released) so that the late
//     command is refused.
//   - Register its command and event types, with their payload types, in
//     the events registry, and its name in events.Services: provisioning
//     creates its topics from it, and it becomes a principal with its own
//     signing key and topic access.
//   - Run it: add func() service.Service { return <name>.New(...) } to
//     the services system.Parts starts, each in a participant.Runtime.
//   - Test it with participanttest: New(t, newService), then Run or Try
//     commands built by Command, Payload to read an answer, Refuses and
//     RefusesEvent for what it must refuse; every command is checked to
//     change nothing until applied and the log to fold back into the
//     live state.
package service
