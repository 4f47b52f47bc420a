package ui

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// definitionOf is the definition a saga runs: the version it started on,
// from the catalogue, so a saga started before an edit is drawn as it
// runs; the shipped one of its name when the catalogue lacks the version
// (or there is no catalogue).
func (h *Handler) definitionOf(ctx context.Context, name, version string) saga.Definition {
	if h.cfg.Catalogue != nil && version != "" {
		v, ok, err := h.cfg.Catalogue.Version(ctx, version)
		if err != nil {
			h.cfg.Log.Warn().Err(err).Str("version", version).Msg("ui: the catalogue of definitions could not be read")
		}
		if ok {
			return v.Def
		}
	}
	return h.cfg.Definitions[name]
}

// definitionNames are the names a saga's definition may have: those in
// the catalogue and the shipped ones.
func (h *Handler) definitionNames(ctx context.Context) []string {
	var names []string
	for name := range h.cfg.Definitions {
		names = append(names, name)
	}
	if h.cfg.Catalogue != nil {
		vs, err := h.cfg.Catalogue.All(ctx)
		if err != nil {
			h.cfg.Log.Warn().Err(err).Msg("ui: the catalogue of definitions could not be read")
		}
		for _, v := range vs {
			names = append(names, v.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// definitionRow is one published version on the definitions page.
type definitionRow struct {
	Name, Version, Actor string
	Current              bool
	Steps                []saga.Step
	At                   time.Time
}

type definitionsData struct {
	Rows []definitionRow
	Err  string
}

// definitionsPage is GET /ui/definitions: every published version, newest
// first, the current one of each name marked, each with its steps.
func (h *Handler) definitionsPage(w http.ResponseWriter, r *http.Request, s session) {
	var d definitionsData
	if h.cfg.Catalogue == nil {
		d.Err = "this server reads no catalogue of definitions"
		h.render(w, r, "definitions", s, d)
		return
	}
	vs, err := h.cfg.Catalogue.All(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	current := catalogue.Current(vs)
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		d.Rows = append(d.Rows, definitionRow{Name: v.Name, Version: v.Version, Actor: v.Actor, At: v.At,
			Current: current[v.Name].Offset == v.Offset, Steps: v.Def.Steps})
	}
	h.render(w, r, "definitions", s, d)
}
