package ui

import (
	"testing"
	"time"

	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
)

// TestDrawGraph: every step of book-ticket in order, a compensation box
// under exactly the steps that have one, the pivot marked, each step's
// state from the saga (pending when it has none yet).
func TestDrawGraph(t *testing.T) {
	d := flows.BookTicketDefinition()
	at := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	v := projections.SagaView{Steps: []projections.StepView{
		{Name: "VerifyUser", Status: "succeeded", Attempts: 1, StartedAt: at, EndedAt: at.Add(20 * time.Millisecond)},
		{Name: "ReserveSeats", Status: "compensated", Attempts: 1, CompensationTries: 2},
		{Name: "ChargePayment", Status: "failed", Attempts: 3, Reason: "card declined by the issuing bank, twice"},
	}}
	g := drawGraph(d, v)
	if len(g.Steps) != len(d.Steps) || len(g.Arrows) != len(d.Steps)-1 {
		t.Fatalf("%d boxes and %d arrows for %d steps", len(g.Steps), len(g.Arrows), len(d.Steps))
	}
	for i, b := range g.Steps {
		st := d.Steps[i]
		if b.Name != st.Name || b.Pivot != st.Pivot || (b.Comp != nil) != (st.Compensation != "") {
			t.Errorf("box %d = %+v for step %+v", i, b, st)
		}
		if i > 0 && b.X <= g.Steps[i-1].X {
			t.Errorf("box %d is not right of box %d", i, i-1)
		}
		if b.X+boxW > g.Width {
			t.Errorf("box %d overflows the drawing", i)
		}
	}
	want := []struct{ label, comp string }{{"completed", ""}, {"compensated", "compensated"}, {"failed", "not run"}, {"pending", ""}, {"pending", ""}}
	for i, w := range want {
		b := g.Steps[i]
		if b.Label != w.label || (b.Comp != nil && b.Comp.Status != w.comp) {
			t.Errorf("step %s drawn %q (compensation %+v), want %q and %q", b.Name, b.Label, b.Comp, w.label, w.comp)
		}
	}
	if g.Steps[0].Took != "20ms" || g.Steps[1].Comp.Attempts != 2 || g.Steps[2].Attempts != 3 {
		t.Errorf("timings and attempts: %+v", g.Steps[:3])
	}
	if trunc(g.Steps[2].Reason) != "card declined by the is…" {
		t.Errorf("the reason is cut to %q", trunc(g.Steps[2].Reason))
	}
}

// TestSafeNext keeps the redirect after sign-in on the back office.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/sagas?ref=BK-1": "/ui/sagas?ref=BK-1", "": "/ui/", "//evil.example/ui/": "/ui/",
		"https://evil.example/ui/": "/ui/", "/v1/sagas": "/ui/", "/ui/\\evil": "/ui/", "/ui/x\r\nSet-Cookie: a=b": "/ui/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
