package readmodel

import (
	"context"
	"database/sql"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/projections"
)

// Reconciliation is a reconciler restored from the read model, in one read
// transaction: every booking ref's facts (the reconcile projection) and
// every saga's state (the sagas projection). The two projections read
// their logs independently; settled drops what only their different
// progress may explain.
func (db *DB) Reconciliation(ctx context.Context) (*projections.Reconciler, error) {
	r := projections.NewReconcilerWith(machine)
	err := db.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT booking_ref, facts FROM reconcile_refs`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ref, raw string
			if err := rows.Scan(&ref, &raw); err != nil {
				rows.Close()
				return err
			}
			if err := restoreFacts(r, ref, raw); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT state FROM sagas`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			s, err := decodeState(raw)
			if err != nil {
				return err
			}
			r.RestoreSaga(*s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// settled keeps the findings of a reconciliation restored from the read
// model that its projections' progress cannot explain: a finding about a
// saga (or any saga of its booking ref) that moved after the newest record
// the reconcile projection has applied may only mean that the service
// logs are read less far than the saga log, so it is dropped.
func settled(r *projections.Reconciler, findings []projections.Finding, servicesAt time.Time) []projections.Finding {
	out := []projections.Finding{}
	sagas := r.Sagas()
	for _, f := range findings {
		moved := false
		if f.SagaID != "" {
			if s, ok := sagas.State(f.SagaID); ok && s.UpdatedAt.After(servicesAt) {
				moved = true
			}
		}
		for _, v := range sagas.ByRef(f.BookingRef) {
			if f.BookingRef != "" && v.UpdatedAt.After(servicesAt) {
				moved = true
			}
		}
		if !moved {
			out = append(out, f)
		}
	}
	return out
}

// settleSkew allows for the clocks of the parts that wrote the logs.
const settleSkew = time.Second

// Reconciled is a reconciliation answered from the read model.
type Reconciled struct {
	Findings []projections.Finding
	Summary  projections.Summary
	// Skipped counts, per service log, the records the reconcile
	// projection skipped because they do not check.
	Skipped map[string]int
	// LagEvents is how many records of the service logs and the saga log
	// the reconcile and sagas projections had still to apply when asked.
	LagEvents int64
}

// Reconcile reports where the service logs disagree at now, from the
// read model: it asks Kafka only how far the logs go, to tell how far the
// reconcile projection has read them (servicesAt: everything written
// before it is applied), and drops a finding about a booking whose sagas
// moved after that.
func (db *DB) Reconcile(ctx context.Context, cfg bus.Config, now time.Time) (Reconciled, error) {
	l, err := openLog(ctx, cfg)
	if err != nil {
		return Reconciled{}, err
	}
	st := &statusReader{l: l, ends: map[Source]logEnd{}}
	ps, err := st.projection(ctx, db, reconcileProjection, reconcileProjection.name)
	var sagas ProjectionStatus
	if err == nil {
		sagas, err = st.projection(ctx, db, sagasProjection, sagasProjection.name)
	}
	l.Close()
	if err != nil {
		return Reconciled{}, err
	}
	servicesAt := now
	out := Reconciled{Skipped: map[string]int{}, LagEvents: ps.LagEvents + sagas.LagEvents}
	for _, p := range ps.Partitions {
		if p.LagEvents > 0 && p.LastRecordAt.Before(servicesAt) {
			servicesAt = p.LastRecordAt
		}
		if p.Skipped > 0 {
			out.Skipped[p.Topic] += int(p.Skipped)
		}
	}
	r, err := db.Reconciliation(ctx)
	if err != nil {
		return Reconciled{}, err
	}
	out.Findings = settled(r, r.Report(now), servicesAt.Add(-settleSkew))
	out.Summary = r.Summary()
	return out, nil
}
