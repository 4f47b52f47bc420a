package ui

import (
	"context"
	"net/http"
	"time"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// readTimeout bounds a page's question to Kafka (how far the logs go).
const readTimeout = 10 * time.Second

type reconcileData struct {
	Report client.Reconciliation
	Err    string
}

// reconcile is GET /ui/reconcile: where the services' logs disagree, each
// finding linked to its saga; reloading the page runs it again (the read
// model answers, asking Kafka only how far the logs go).
func (h *Handler) reconcile(w http.ResponseWriter, r *http.Request, s session) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	now := h.now()
	rec, err := h.cfg.ReadModel.Reconcile(ctx, h.cfg.Bus, now)
	d := reconcileData{}
	if err != nil {
		h.cfg.Log.Warn().Err(err).Msg("ui: reconcile failed")
		d.Err = "the reconciliation could not run: " + err.Error()
	} else {
		d.Report = client.FromReadModel(rec, now)
	}
	h.render(w, r, "reconcile", s, d)
}

type projectionsData struct {
	Projections []readmodel.ProjectionStatus
	Shows       []projections.ShowInventory
	Err         string
}

// projectionsPage is GET /ui/projections: each read model's lag and any
// rebuild in progress, and the seats left of every show.
func (h *Handler) projectionsPage(w http.ResponseWriter, r *http.Request, s session) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	d := projectionsData{}
	ps, err := readmodel.Status(ctx, h.cfg.Bus, h.cfg.ReadModel)
	if err != nil {
		h.cfg.Log.Warn().Err(err).Msg("ui: projection status failed")
		d.Err = "the projections' status could not be read: " + err.Error()
	}
	d.Projections = ps
	if d.Shows, err = h.cfg.ReadModel.Inventory(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, "projections", s, d)
}
