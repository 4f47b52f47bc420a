package client

import (
	"context"
	"errors"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// errFound ends a lookup's read at the record it looked for.
var errFound = errors.New("found")

// showOnSale reports whether the booking log lists show id, reading only
// the partition its key places the show's records on, up to the first
// ShowAdded that lists it: a booking of a show added with `saga shows add`
// costs one partition's read, not a fold of the whole log. false means
// not found there, which a deployment with another partitioner than the
// client's could also give: the caller then folds the whole log.
func (c *Client) showOnSale(ctx context.Context, id string) (bool, error) {
	topic := c.cfg.Topic(events.DomainTopic(events.ServiceBooking))
	n, err := bus.PartitionCount(ctx, c.cfg, topic)
	if err != nil {
		return false, err
	}
	p := c.cfg.Partitioner.Partition(id, n)
	found := false
	err = bus.RetryTransient(ctx, c.cfg.RetryBound(), nil, func(ctx context.Context) error {
		return bus.ReadPartition(ctx, c.cfg, topic, p, 0, func(r bus.Record) error {
			if r.Headers[events.HeaderType] != string(events.ShowAdded) {
				return nil
			}
			e, err := c.cfg.CheckLogged(r)
			if err != nil {
				c.skipped(r, err)
				return nil //nolint:nilerr // logged; the lookup goes on
			}
			if p, err := events.Decode[events.ShowAddedV1](e); err == nil && p.Outcome == events.OutcomeSucceeded && p.ShowID == id {
				found = true
				return errFound
			}
			return nil
		})
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return found, err
}
