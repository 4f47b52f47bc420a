package orchestrator

import (
	"context"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/events"
)

// syncDefinitions registers the definitions this orchestrator was given
// whose versions the catalogue has never held, gives the machine every
// version of the catalogue in order (the last of each name is the one new
// sagas start on), and returns a follower that keeps giving it the
// versions applied from then on, without a restart.
func (o *Orchestrator) syncDefinitions(ctx context.Context) (func(), error) {
	skipped := func(r bus.Record, err error) {
		o.log.Warn().Err(err).Int64("offset", r.Offset).Msg("skipped a definition record that does not check")
	}
	vs, end, err := catalogue.Register(ctx, o.cfg.Bus, o.cfg.Definitions, events.PrincipalOrchestrator, o.cfg.Now(), skipped)
	if err != nil {
		return nil, err
	}
	// A version this orchestrator was given is run as given: with the
	// SLOs its command line set.
	given := map[string]bool{}
	for _, d := range o.cfg.Definitions {
		given[d.Version] = true
	}
	for _, v := range vs {
		if given[v.Version] {
			o.machine.Add(o.cfg.Definitions[v.Name])
			continue
		}
		o.machine.Add(v.Def)
	}
	return func() {
		err := catalogue.Follow(ctx, o.cfg.Bus, end, nil, func(v catalogue.Version) {
			o.machine.Add(v.Def)
			o.log.Info().Str("definition", v.Name).Str("definition_version", v.Version).Str("actor", v.Actor).
				Msg("definition version applied: new sagas start on it")
		})
		if err != nil && ctx.Err() == nil {
			o.log.Error().Err(err).Msg("definitions no longer followed: new versions wait for a restart")
		}
	}, nil
}
