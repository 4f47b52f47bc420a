// Package orchestrator is the thin runtime around the pure saga machine:
// it rebuilds running sagas from the saga log, feeds requests, replies and
// the passing of time to saga.Machine.Decide, appends the decided events
// to the log before anything else, then sends the commands they ask for.
package orchestrator
