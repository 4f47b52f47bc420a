package ui

import (
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
)

// Sizes of the drawing of a definition, in SVG user units.
const (
	boxW, boxH = 170, 84
	gapX       = 40
	compY      = 150
	margin     = 10
)

// graph is a definition drawn: a box per step in order, the compensation
// under each step that has one, each with its live state.
type graph struct {
	Width, Height int
	Steps         []stepBox
	Arrows        []arrow
}

type stepBox struct {
	X, Y     int
	Name     string
	Service  string
	Pivot    bool
	Status   string // the step's status in the fold
	Label    string // what the page says
	Attempts int
	Took     string
	Reason   string
	// Comp is the compensation's box under the step; nil when it has none.
	Comp *compBox
}

type compBox struct {
	X, Y     int
	Command  string
	Status   string
	Attempts int
}

type arrow struct{ X1, Y1, X2, Y2 int }

// drawGraph lays out d with v's step states over it. A saga whose
// definition is unknown here is drawn from its own steps.
func drawGraph(d saga.Definition, v projections.SagaView) graph {
	steps := d.Steps
	if len(steps) == 0 {
		for _, st := range v.Steps {
			steps = append(steps, saga.Step{Name: st.Name})
		}
	}
	state := map[string]projections.StepView{}
	for _, st := range v.Steps {
		state[st.Name] = st
	}
	g := graph{Width: margin*2 + len(steps)*boxW + (len(steps)-1)*gapX, Height: margin + boxH}
	for i, st := range steps {
		x := margin + i*(boxW+gapX)
		sv, ok := state[st.Name]
		b := stepBox{X: x, Y: margin, Name: st.Name, Service: st.Service, Pivot: st.Pivot, Status: "pending"}
		if ok {
			b.Status, b.Attempts, b.Reason = sv.Status, sv.Attempts, sv.Reason
			if !sv.StartedAt.IsZero() && !sv.EndedAt.IsZero() {
				b.Took = dur(sv.EndedAt.Sub(sv.StartedAt))
			}
		}
		b.Label = stepLabel(b.Status)
		if st.Compensation != "" {
			c := &compBox{X: x, Y: compY, Command: string(st.Compensation), Status: "not run"}
			if ok && (sv.Status == "compensating" || sv.Status == "compensated") {
				c.Status, c.Attempts = sv.Status, sv.CompensationTries
			}
			b.Comp = c
			g.Height = compY + boxH - 20 + margin
		}
		if i > 0 {
			g.Arrows = append(g.Arrows, arrow{X1: x - gapX, Y1: margin + boxH/2, X2: x - 4, Y2: margin + boxH/2})
		}
		g.Steps = append(g.Steps, b)
	}
	return g
}

// stepLabel is a step's status as the page says it: a step that
// succeeded is completed.
func stepLabel(status string) string {
	if status == "succeeded" {
		return "completed"
	}
	return status
}
