// Package chaos holds the chaos test of the whole product, behind the build
// tag chaos (`make chaos`, or `go test -tags chaos -run TestChaos ./chaos/`).
//
// The orchestrator and each participant service run as separate `saga up
// --parts ...` processes (two orchestrators and two booking services share
// partitions), a thousand bookings with every outcome the demo catalogue
// offers are posted while a random process is SIGKILLed and restarted every
// few seconds and the broker is restarted once. At the end every saga must
// have ended, `saga reconcile` must find nothing, and the logs must add up:
// seats, money, notifications, one saga per idempotency key.
//
// It runs against the cluster named by KAFKA_BROKERS (its broker restart is
// `scripts/kafka.sh restart`, or CHAOS_RESTART_CMD), else against an
// embedded broker run as a process of its own (`saga broker`) that is
// SIGKILLed and started again on the same data directory. Each run uses a
// topic namespace of its own, so a shared cluster is fine.
//
// Knobs (environment): CHAOS_BOOKINGS (distinct bookings, default 1000),
// CHAOS_RATE (requests per second, default 25), CHAOS_KILL_EVERY (default
// 3s), CHAOS_TAIL (chaos after the last request, default 10s),
// CHAOS_DURATION (cap of the chaos phase, default 20m), CHAOS_SETTLE (how
// long sagas may take to end afterwards, default 5m), CHAOS_SEED (the load
// and the choice of victims; timing stays the machine's), CHAOS_LOG_DIR
// (where the run directory goes: binary, process logs, embedded broker
// data; kept when the test fails, or with CHAOS_KEEP=1), CHAOS_RESTART_CMD
// (how to restart the broker of KAFKA_BROKERS when it is not a
// scripts/kafka.sh cluster).
//
// Two focused tests reproduce what chaos runs found, each in seconds (the
// first fails until the embedded broker's dependency is fixed; the second
// guards the orchestrator's fix); they are not part of `make chaos`:
//
//	go test -tags chaos -run TestEmbeddedBrokerEvictsMemberKilledWhileJoining -v ./chaos/
//	go test -tags chaos -run TestOrchestratorKilledBetweenAppends -v ./chaos/
package chaos
