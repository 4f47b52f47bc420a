package ui

import (
	"context"
	"slices"

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
