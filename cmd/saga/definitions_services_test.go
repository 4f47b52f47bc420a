package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/servicefile"
)

// A definition may name the services declared in --services, with their
// commands and compensations: book-ticket-with-hotel checks once the hotel
// is declared, and names the hotel unknown before.
func TestDefinitionsKnowTheDeclaredServices(t *testing.T) {
	t.Cleanup(func() { _ = events.Declare(nil) })
	raw, err := os.ReadFile("../../examples/hotel/book-ticket-with-hotel.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := definition.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	g := &globals{}
	if _, err := spec.Compile(g.knownServices()); err == nil || !strings.Contains(err.Error(), `unknown service "hotel"`) {
		t.Fatalf("without the hotel declared: %v", err)
	}
	decls, err := servicefile.Load("../../examples/hotel/services.yaml")
	if err == nil {
		err = events.Declare(decls)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Compile(g.knownServices())
	if err != nil {
		t.Fatalf("with the hotel declared: %v", err)
	}
	if d.Steps[2].Service != "hotel" || d.Steps[2].Compensation != "ReleaseRoom" {
		t.Fatalf("ReserveRoom compiled as %+v", d.Steps[2])
	}
}
