//go:build race

package readmodel_test

// raceEnabled: the race detector slows the folds about tenfold, so the
// large-log tests use smaller logs under it.
const raceEnabled = true
