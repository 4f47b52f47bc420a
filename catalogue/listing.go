package catalogue

import (
	"time"

	"github.com/sagaflow/saga/orchestrator/definition"
)

// Listing is a version as the CLI's `saga definitions list -o json` and
// the HTTP API show it, and with its file when one is shown.
type Listing struct {
	Name        string        `json:"name"`
	Version     string        `json:"version"`
	Current     bool          `json:"current"`
	Steps       []ListingStep `json:"steps"`
	Actor       string        `json:"actor,omitempty"`
	PublishedAt *time.Time    `json:"published_at,omitempty"`
	// Published says whether an apply wrote a new version.
	Published *bool            `json:"published,omitempty"`
	Spec      *definition.Spec `json:"spec,omitempty"`
}

// ListingStep is a step in a listing.
type ListingStep struct {
	Name         string `json:"name"`
	Service      string `json:"service"`
	Command      string `json:"command"`
	Compensation string `json:"compensation,omitempty"`
	Pivot        bool   `json:"pivot,omitempty"`
}

// ListingOf is the listing of a definition not yet read back from the
// catalogue: a file just applied.
func ListingOf(name, version string, spec definition.Spec) Listing {
	l := Listing{Name: name, Version: version, Steps: []ListingStep{}}
	for _, s := range spec.Steps {
		l.Steps = append(l.Steps, ListingStep{Name: s.Name, Service: s.Service, Command: s.Command, Compensation: s.Compensation, Pivot: s.Pivot})
	}
	return l
}

// Listing is the version's listing; current says whether it is its
// name's current version.
func (v Version) Listing(current bool) Listing {
	l := ListingOf(v.Name, v.Version, v.Spec)
	at := v.At
	l.Current, l.Actor, l.PublishedAt = current, v.Actor, &at
	return l
}
