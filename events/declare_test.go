package events_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
)

func hotelDecl() events.ServiceDecl {
	return events.ServiceDecl{Name: "hotel", Key: "booking_ref",
		Commands: []events.CommandDecl{{Name: "ReserveRoom", Compensation: "ReleaseRoom"}},
		Sample:   json.RawMessage(`{"booking_ref":"BK-KIT-1"}`)}
}

// declare makes decls the process's for one test and clears them after.
func declare(t *testing.T, decls ...events.ServiceDecl) {
	t.Helper()
	if err := events.Declare(decls); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
}

func TestDeclaredServiceJoinsTheSystem(t *testing.T) {
	// ReadersOf is asked before the declaration, as a process that signs
	// a record early would: the declaration must still reach it.
	if got := events.ReadersOf("hotel.commands"); got != nil {
		t.Fatalf("before the declaration hotel.commands has readers %v", got)
	}
	declare(t, hotelDecl())

	if got := events.Services(); !slices.Equal(got, append(events.BuiltinServices(), "hotel")) {
		t.Errorf("Services() = %v", got)
	}
	if !slices.Contains(events.Principals(), "hotel") || !events.IsService("hotel") {
		t.Errorf("hotel is not a principal: %v", events.Principals())
	}
	if got := events.ReadersOf("hotel.commands"); !slices.Equal(got, []string{"hotel"}) {
		t.Errorf("ReadersOf(hotel.commands) = %v, want [hotel]", got)
	}
	if got := events.ReadersOf("hotel.events"); !slices.Contains(got, "hotel") || !slices.Contains(got, events.PrincipalClient) {
		t.Errorf("ReadersOf(hotel.events) = %v, want hotel and the client", got)
	}
	for _, c := range []struct {
		p, topic string
		want     bool
	}{
		{events.PrincipalOrchestrator, "hotel.commands", true},
		{"hotel", events.TopicReplies, true},
		{"hotel", "hotel.events", true},
		{"hotel", "booking.events", false},
		{"booking", "hotel.events", false},
		{events.PrincipalClient, "hotel.commands", false},
	} {
		if got := events.MayWrite(c.p, c.topic); got != c.want {
			t.Errorf("MayWrite(%s, %s) = %v, want %v", c.p, c.topic, got, c.want)
		}
	}
	orch := events.AccessOf(events.PrincipalOrchestrator)
	if !slices.Contains(orch.Writes, "hotel.commands") {
		t.Errorf("the orchestrator may not write hotel.commands: %v", orch.Writes)
	}
	if a := events.AccessOf("hotel"); !slices.Equal(a.Groups, []string{"hotel"}) || !slices.Contains(a.Reads, "hotel.commands") {
		t.Errorf("AccessOf(hotel) = %+v", a)
	}
	if s, ok := events.ServiceOf("ReleaseRoom"); !ok || s != "hotel" {
		t.Errorf("ServiceOf(ReleaseRoom) = %q, %v", s, ok)
	}
}

func TestDeclaredCommandsCheckAsCommands(t *testing.T) {
	cmd := events.MustNew("c-1", "ReserveRoom", events.CommandV1{Step: "ReserveRoom", Attempt: 1, Data: json.RawMessage(`{}`)},
		events.Trace{SagaID: "s-1"}, "BK-1", time.Now())
	if _, err := events.Check(cmd); err == nil || !strings.Contains(err.Error(), "unknown type") {
		t.Fatalf("undeclared ReserveRoom checks: %v", err)
	}
	declare(t, hotelDecl())
	if _, _, err := events.CheckAs[events.CommandV1](cmd); err != nil {
		t.Fatalf("declared ReserveRoom: %v", err)
	}
	bad := cmd
	bad.Payload = json.RawMessage(`{"step":"","attempt":0,"data":[]}`)
	if _, err := events.Check(bad); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("a bad ReserveRoom payload checks: %v", err)
	}
	if err := events.Declare(nil); err != nil {
		t.Fatal(err)
	}
	if events.IsService("hotel") || events.ReadersOf("hotel.commands") != nil || events.Known("ReserveRoom") {
		t.Error("a cleared declaration still holds hotel")
	}
}

func TestDeclareRefusesAndKeepsTheOld(t *testing.T) {
	declare(t, hotelDecl())
	if err := events.Declare([]events.ServiceDecl{{Name: "booking", Commands: []events.CommandDecl{{Name: "Other"}}}}); err == nil {
		t.Fatal("a built-in service was declared")
	}
	if !events.IsService("hotel") {
		t.Error("a refused declaration replaced the one before")
	}
}

func TestValidateServices(t *testing.T) {
	cmd := []events.CommandDecl{{Name: "DoIt"}}
	for _, c := range []struct {
		name  string
		decls []events.ServiceDecl
		want  []string // every one must be reported
	}{
		{"valid", []events.ServiceDecl{hotelDecl(), {Name: "car-hire", Commands: cmd}}, nil},
		{"no name", []events.ServiceDecl{{Commands: cmd}}, []string{"services[0]: name is required"}},
		{"bad name", []events.ServiceDecl{{Name: "Hotel.x", Commands: cmd}}, []string{"lowercase"}},
		{"built-in", []events.ServiceDecl{{Name: "payment", Commands: cmd}}, []string{"built-in"}},
		{"reserved", []events.ServiceDecl{{Name: "saga", Commands: cmd}, {Name: "operator", Commands: []events.CommandDecl{{Name: "X"}}}}, []string{`"saga": name is reserved`, `"operator": name is reserved`}},
		{"twice", []events.ServiceDecl{{Name: "a", Commands: cmd}, {Name: "a", Commands: []events.CommandDecl{{Name: "X"}}}}, []string{"declared twice"}},
		{"bad key", []events.ServiceDecl{{Name: "a", Key: "a.b", Commands: cmd}}, []string{`key "a.b"`}},
		{"no commands", []events.ServiceDecl{{Name: "a"}}, []string{"at least one command"}},
		{"product type", []events.ServiceDecl{{Name: "a", Commands: []events.CommandDecl{{Name: "ChargePayment", Compensation: "SagaStarted"}}}},
			[]string{`command "ChargePayment" is a message type`, `compensation "SagaStarted" is a message type`}},
		{"type twice", []events.ServiceDecl{{Name: "a", Commands: []events.CommandDecl{{Name: "X", Compensation: "Y"}}}, {Name: "b", Commands: []events.CommandDecl{{Name: "Y"}}}},
			[]string{`command "Y" is declared twice`}},
		{"own compensation", []events.ServiceDecl{{Name: "a", Commands: []events.CommandDecl{{Name: "X", Compensation: "X"}}}}, []string{"its own compensation"}},
		{"bad type", []events.ServiceDecl{{Name: "a", Commands: []events.CommandDecl{{Name: "do-it"}, {}}}}, []string{`command "do-it"`, "commands[1]: name is required"}},
		{"sample not object", []events.ServiceDecl{{Name: "a", Commands: cmd, Sample: json.RawMessage(`[1]`)}}, []string{"sample must be an object"}},
		{"sample without key", []events.ServiceDecl{{Name: "a", Key: "ref", Commands: cmd, Sample: json.RawMessage(`{"ref":7}`)}}, []string{`key field "ref"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := events.ValidateServices(c.decls)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
