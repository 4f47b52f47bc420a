package client

import (
	"context"
	"fmt"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/events"
)

// Definitions reads the catalogue of definitions: every version published,
// oldest first; records that do not check are skipped and logged.
func (c *Client) Definitions(ctx context.Context) ([]catalogue.Version, error) {
	vs, _, err := catalogue.Read(ctx, c.cfg, func(r bus.Record, err error) { c.skipped(r, err) })
	return vs, err
}

// checkDefinition refuses a start request of a definition the catalogue
// does not hold, or whose data its current version refuses, before it is
// posted: the orchestrator would only dead-letter it.
func (c *Client) checkDefinition(ctx context.Context, e events.Envelope) error {
	p, err := events.Decode[events.StartSagaV1](e)
	if err != nil {
		return err
	}
	vs, err := c.Definitions(ctx)
	if err != nil {
		return err
	}
	v, ok := catalogue.Current(vs)[p.Definition]
	if !ok {
		return fmt.Errorf("%w: unknown definition %q (saga definitions list names them)", ErrInvalid, p.Definition)
	}
	if check := v.Def.ValidateData; check != nil {
		if err := check(p.Data); err != nil {
			return fmt.Errorf("%w: %s version %s: %w", ErrInvalid, v.Name, v.Version, err)
		}
	}
	return nil
}
