// Package bench measures the product against the broker under it: book-ticket
// sagas driven through the running system, the raw producer-to-consumer
// limit of the same broker, replay, recovery and memory. `saga bench` and
// `make bench` print its figures; BENCHMARKS.md records them.
package bench
