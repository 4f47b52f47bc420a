package orchestrator

import (
	"context"
	"time"

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
	var vs []catalogue.Version
	var end int64
	err := bus.RetryTransient(ctx, time.Minute, func(err error) {
		o.log.Warn().Err(err).Msg("register the definitions: the broker is not answering; trying again")
	}, func(ctx context.Context) (err error) {
		vs, end, err = catalogue.Register(ctx, o.cfg.Bus, o.cfg.Definitions, events.PrincipalOrchestrator, o.cfg.Now(), skipped)
		return err
	})
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
	o.definitionsEnd.Store(end)
	return func() {
		for ctx.Err() == nil {
			err := catalogue.Follow(ctx, o.cfg.Bus, o.definitionsEnd.Load(), skipped, o.learnDefinition)
			if err != nil && ctx.Err() == nil {
				o.log.Warn().Err(err).Msg("following the definitions: again in a second")
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}, nil
}

// learnDefinition gives the machine a version applied while it runs.
func (o *Orchestrator) learnDefinition(v catalogue.Version) {
	o.definitionsMu.Lock()
	defer o.definitionsMu.Unlock()
	if v.Offset < o.definitionsEnd.Load() {
		return // read already, by the follower or a catch-up
	}
	o.definitionsEnd.Store(v.Offset + 1)
	o.machine.Add(v.Def)
	o.log.Info().Str("definition", v.Name).Str("definition_version", v.Version).Str("actor", v.Actor).
		Msg("definition version applied: new sagas start on it")
}

// catchUpDefinitions reads the versions applied that the follower has not
// delivered yet: a request to start a saga of a name the machine does not
// know may name one applied a moment ago. At most once a second, so that
// requests naming nothing cannot make it read the catalogue for each.
func (o *Orchestrator) catchUpDefinitions(ctx context.Context) bool {
	now := time.Now()
	if last := o.definitionsCaughtUp.Load(); last != 0 && now.Sub(time.Unix(0, last)) < time.Second {
		return false
	}
	o.definitionsCaughtUp.Store(now.UnixNano())
	vs, _, err := catalogue.Read(ctx, o.cfg.Bus, nil)
	if err != nil {
		o.log.Warn().Err(err).Msg("reading the definitions to catch up")
		return false
	}
	learnt := false
	for _, v := range vs {
		if v.Offset >= o.definitionsEnd.Load() {
			o.learnDefinition(v)
			learnt = true
		}
	}
	return learnt
}
