//go:build !unix

package bus

// lockDataDir is a no-op where flock is unavailable; running two brokers
// on one DataDir there is the operator's responsibility.
func lockDataDir(string) (func() error, error) { return func() error { return nil }, nil }
