// Package projections builds read models by folding the logs. Every read
// model here is a pure fold: feed it the events in log order and it answers
// questions shaped for people and scripts.
package projections
