package readmodel

import (
	"context"
	"database/sql"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// The definition versions of the sagas the read models hold, as the log
// carries them (SagaStarted's definition_spec), are kept in the table
// saga_definitions: a saga read back from a table, never folded from its
// start in this process, is then still read by its own version (what it
// books, what its steps are). A version is its content, so the table only
// grows and a rebuild leaves it as it is.

// keepDefinition stores the definition a SagaStarted event carries, in the
// transaction of the batch that folds it.
func (b *batch) keepDefinition(ev *event) {
	if ev.env.Type != events.SagaStarted {
		return
	}
	p, err := ev.startedPayload()
	if err != nil || p.DefinitionVersion == "" || len(p.DefinitionSpec) == 0 {
		return
	}
	if _, ok := b.db.definitions.Load(p.DefinitionVersion); ok || b.definitions[p.DefinitionVersion] {
		return
	}
	if b.definitions == nil {
		b.definitions = map[string]bool{}
	}
	b.definitions[p.DefinitionVersion] = true
	b.exec(`INSERT INTO saga_definitions (version, spec) VALUES (?, ?) ON CONFLICT (version) DO NOTHING`,
		p.DefinitionVersion, string(p.DefinitionSpec))
}

// knowDefinitions gives the read models' machine every version the table
// holds.
func (db *DB) knowDefinitions(ctx context.Context) error {
	var defs []saga.Definition
	err := db.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT version, spec FROM saga_definitions`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var version, spec string
			if err := rows.Scan(&version, &spec); err != nil {
				return err
			}
			d, err := definition.FromLog([]byte(spec))
			if err != nil || d.Version != version {
				continue // a version this build cannot read: its sagas are read as before
			}
			defs = append(defs, d)
			db.definitions.Store(version, true)
		}
		return rows.Err()
	})
	machine.Know(defs...)
	return err
}
