// Package catalogue keeps the saga definitions on their topic
// (events.TopicDefinitions): every version ever applied, in order, each a
// signed record that only an operator (or the orchestrator registering the
// shipped ones) may write. It reads, follows and publishes them; Kafka I/O
// goes through package bus.
package catalogue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Version is one published definition version.
type Version struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Spec    definition.Spec `json:"spec"`
	// Def is the spec compiled, as the orchestrator runs it.
	Def saga.Definition `json:"-"`
	// Actor applied it; At is when.
	Actor  string    `json:"actor"`
	At     time.Time `json:"published_at"`
	Offset int64     `json:"offset"`
}

// Read returns every version on the topic as it stands, in the order they
// were published, skipping records that do not check (forged, corrupt):
// skipped reports each. A topic that does not exist is an empty catalogue.
func Read(ctx context.Context, cfg bus.Config, skipped func(bus.Record, error)) ([]Version, int64, error) {
	var out []Version
	end := int64(0)
	err := bus.ReadAll(ctx, cfg, cfg.Topic(events.TopicDefinitions), func(r bus.Record) error {
		end = r.Offset + 1
		v, err := decode(cfg, r)
		if err != nil {
			if skipped != nil {
				skipped(r, err)
			}
			return nil
		}
		out = append(out, v)
		return nil
	})
	if errors.Is(err, bus.ErrUnknownTopic) {
		return nil, 0, nil
	}
	return out, end, err
}

// Follow calls fn for every version published at offset from or later,
// until ctx ends.
func Follow(ctx context.Context, cfg bus.Config, from int64, skipped func(bus.Record, error), fn func(Version)) error {
	return bus.FollowFrom(ctx, cfg, cfg.Topic(events.TopicDefinitions), map[int32]int64{0: from}, func(r bus.Record) error {
		v, err := decode(cfg, r)
		if err != nil {
			if skipped != nil {
				skipped(r, err)
			}
			return nil
		}
		fn(v)
		return nil
	})
}

// decode checks a record (its signature and signer, its payload) and
// compiles the definition it carries.
func decode(cfg bus.Config, r bus.Record) (Version, error) {
	e, err := cfg.CheckLogged(r)
	if err != nil {
		return Version{}, err
	}
	if e.Type != events.DefinitionPublished {
		return Version{}, fmt.Errorf("%s is not a definition", e.Type)
	}
	p, err := events.Decode[events.DefinitionPublishedV1](e)
	if err != nil {
		return Version{}, err
	}
	spec, err := definition.Parse(p.Spec)
	if err != nil {
		return Version{}, err
	}
	def, err := spec.Compile(nil)
	if err != nil {
		return Version{}, err
	}
	if def.Name != p.Name || def.Version != p.Version {
		return Version{}, fmt.Errorf("record says %s version %s; its spec is %s version %s", p.Name, p.Version, def.Name, def.Version)
	}
	return Version{Name: p.Name, Version: p.Version, Spec: spec, Def: def, Actor: e.Actor, At: e.OccurredAt, Offset: r.Offset}, nil
}

// Current is the version of each name that its new sagas start on: the
// last one published.
func Current(vs []Version) map[string]Version {
	out := map[string]Version{}
	for _, v := range vs {
		out[v.Name] = v
	}
	return out
}

// Publish writes def (compiled from its file) as the current version of
// its name, unless it is already: then nothing is written and published
// is false. An earlier version published again becomes current again.
// The catalogue is read with read (the client's key: the operator reads
// as the client does) and written with write (the operator's).
func Publish(ctx context.Context, read, write bus.Config, def saga.Definition, actor string, at time.Time) (published bool, err error) {
	vs, _, err := Read(ctx, read, nil)
	if err != nil {
		return false, err
	}
	if cur, ok := Current(vs)[def.Name]; ok && cur.Version == def.Version {
		return false, nil
	}
	return true, publish(write, []saga.Definition{def}, actor, at)
}

// Register publishes those of defs whose version the catalogue has never
// held, for the orchestrator that runs them: a saga started on one of them
// can then be read back by its version anywhere. It returns the catalogue
// as it then stands and its end offset.
func Register(ctx context.Context, cfg bus.Config, defs saga.Definitions, actor string, at time.Time, skipped func(bus.Record, error)) ([]Version, int64, error) {
	vs, end, err := Read(ctx, cfg, skipped)
	if err != nil {
		return nil, 0, err
	}
	held := map[string]bool{}
	for _, v := range vs {
		held[v.Version] = true
	}
	var missing []saga.Definition
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		if d := defs[name]; d.Version != "" && !held[d.Version] {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return vs, end, nil
	}
	if err := publish(cfg, missing, actor, at); err != nil {
		return nil, 0, err
	}
	return Read(ctx, cfg, skipped)
}

func publish(cfg bus.Config, defs []saga.Definition, actor string, at time.Time) error {
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		return err
	}
	defer pub.Close()
	for _, d := range defs {
		e, err := events.New(events.DefinitionEventID(d.Version), events.DefinitionPublished,
			events.DefinitionPublishedV1{Name: d.Name, Version: d.Version, Spec: d.Spec},
			events.Trace{Actor: actor}, d.Name, at)
		if err != nil {
			return err
		}
		if err := pub.Publish(cfg.Topic(events.TopicDefinitions), bus.ToMessage(e)); err != nil {
			return fmt.Errorf("publish definition %s version %s: %w", d.Name, d.Version, err)
		}
	}
	return nil
}

// Errors of Find.
var (
	ErrNoDefinition = errors.New("no such definition")
	ErrNoVersion    = errors.New("no such version")
	ErrAmbiguous    = errors.New("the version is ambiguous")
)

// Find is the version of name that version names, in full or by a unique
// prefix, or the current one when version is empty.
func Find(vs []Version, name, version string) (Version, error) {
	var found []Version
	seen := map[string]bool{}
	for _, v := range vs {
		if v.Name == name && !seen[v.Version] && strings.HasPrefix(v.Version, version) {
			found = append(found, v)
			seen[v.Version] = true
		}
	}
	switch {
	case len(found) == 0 && version == "":
		return Version{}, fmt.Errorf("%w %q", ErrNoDefinition, name)
	case len(found) == 0:
		return Version{}, fmt.Errorf("%w: definition %q has no version %q", ErrNoVersion, name, version)
	case version == "":
		return Current(vs)[name], nil
	case len(found) > 1:
		return Version{}, fmt.Errorf("%w: %q matches %d versions of %q: give more of it", ErrAmbiguous, version, len(found), name)
	}
	return found[0], nil
}
