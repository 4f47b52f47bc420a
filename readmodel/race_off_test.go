//go:build !race

package readmodel_test

const raceEnabled = false
