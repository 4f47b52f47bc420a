package events

import (
	"errors"
	"fmt"
	"strings"
)

// Show types: a show is added by an add-show saga, whose one step asks the
// booking service (which owns seats) to list it. The show id keys both, so
// a show's listing and its reservations are ordered on one partition.
const (
	AddShow   Type = "AddShow"
	ShowAdded Type = "ShowAdded"
)

// ShowData describes a show and its venue: the data of an add-show saga.
type ShowData struct {
	ShowID     string `json:"show_id"`
	Title      string `json:"title"`
	Venue      string `json:"venue"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	Country    string `json:"country"`
	Capacity   int    `json:"capacity"`
	PriceCents int64  `json:"price_cents"`
}

// MaxCapacity bounds a show's seats.
const MaxCapacity = 1_000_000

// Validate reports every problem of a show at once.
func (d ShowData) Validate() error {
	var errs []error
	if d.ShowID == "" || strings.ContainsAny(d.ShowID, " \t\n") {
		errs = append(errs, fmt.Errorf("show_id is required and has no spaces, got %q", d.ShowID))
	}
	if d.Title == "" {
		errs = append(errs, errors.New("title is required"))
	}
	if d.Venue == "" {
		errs = append(errs, errors.New("venue is required"))
	}
	if len(d.Country) != 2 || strings.ToUpper(d.Country) != d.Country {
		errs = append(errs, fmt.Errorf("country must be a two-letter code such as US, got %q", d.Country))
	}
	if d.Capacity < 1 || d.Capacity > MaxCapacity {
		errs = append(errs, fmt.Errorf("capacity must be between 1 and %d, got %d", MaxCapacity, d.Capacity))
	}
	if d.PriceCents < 0 {
		errs = append(errs, fmt.Errorf("price must not be negative, got %d cents", d.PriceCents))
	}
	return errors.Join(errs...)
}

// ShowAddedV1 records a show the booking service now sells seats for.
type ShowAddedV1 struct {
	Handled
	ShowData
}

// Validate reports what is wrong with a ShowAddedV1 payload (events.Check calls it).
func (p ShowAddedV1) Validate() error {
	if p.Outcome != OutcomeSucceeded {
		return errors.Join(p.Handled.Validate(), nonEmpty("show_id", p.ShowID))
	}
	return errors.Join(p.Handled.Validate(), p.ShowData.Validate())
}

func nonEmpty(name, v string) error {
	if v == "" {
		return fmt.Errorf("%s is required", name)
	}
	return nil
}
