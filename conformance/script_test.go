package conformance_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sagaflow/saga/conformance"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

// The built-in scripts' data is the demo world's: a user who may book, a
// show with seats, a card that is charged.
func TestBuiltinScriptsUseTheDemoWorld(t *testing.T) {
	if u, ok := demo.Users()[conformance.DemoUser]; !ok || u.Blocked {
		t.Errorf("%s is not a valid demo user", conformance.DemoUser)
	}
	if s, ok := demo.Shows()[conformance.DemoShow]; !ok || s.Capacity < 50 || s.Cancelled {
		t.Errorf("%s is not a demo show with seats", conformance.DemoShow)
	}
	if conformance.DemoToken != demo.TokenOK {
		t.Errorf("token %s, the demo's good one is %s", conformance.DemoToken, demo.TokenOK)
	}
	for _, svc := range events.BuiltinServices() {
		if _, err := conformance.ScriptFor(svc); err != nil {
			t.Errorf("%s: %v", svc, err)
		}
	}
}

func TestDeclaredScriptUsesSampleWithAUniqueKey(t *testing.T) {
	if _, err := conformance.ScriptFor("hotel"); err == nil || !strings.Contains(err.Error(), "unknown service") {
		t.Fatalf("undeclared hotel: %v", err)
	}
	if err := events.Declare([]events.ServiceDecl{{Name: "hotel", Key: "booking_ref",
		Commands: []events.CommandDecl{{Name: "ReserveRoom", Compensation: "ReleaseRoom"}, {Name: "Checkin"}},
		Sample:   json.RawMessage(`{"booking_ref":"BK-KIT-1","nights":1}`)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
	s, err := conformance.ScriptFor("hotel")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 2 || !reflect.DeepEqual(s.Steps[0], conformance.Step{Command: "ReserveRoom", Compensation: "ReleaseRoom", KeyField: "booking_ref"}) ||
		s.Steps[1].Command != "Checkin" {
		t.Errorf("steps %+v", s.Steps)
	}
	a := s.Data(1, events.SagaIDFor("a"), "BK-A")
	b := s.Data(2, events.SagaIDFor("b"), "BK-B")
	if a["nights"] != 1.0 || !strings.HasPrefix(a["booking_ref"].(string), "BK-KIT-1-") || a["booking_ref"] == b["booking_ref"] {
		t.Errorf("data %v and %v: want the sample with a key of each conversation's own", a, b)
	}
}
