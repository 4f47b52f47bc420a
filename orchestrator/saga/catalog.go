package saga

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sagaflow/saga/events"
)

// ErrUnknownVersion is what Apply and Decide return for a saga pinned to
// a definition version the machine has not been given: the caller reads
// the definitions it has not seen yet and tries again.
var ErrUnknownVersion = errors.New("unknown definition version")

// ErrUnknownDefinition is what Decide returns for a request to start a
// saga of a name the machine has no definition of; the request is
// malformed too (events.ErrMalformed), unless a definition applied since
// the machine last heard names it.
var ErrUnknownDefinition = errors.New("unknown definition")

// catalog is the machine's definitions: every version it knows, and the
// one of each name that new sagas start on. It is never changed: Add
// swaps in a new one, so a decision sees one catalog from start to end.
type catalog struct {
	current   Definitions
	byVersion map[string]Definition
	// first is each name's first version: a saga logged before versions
	// were recorded started on it.
	first map[string]Definition
	slos  map[string]slos
}

func (c *catalog) with(defs []Definition, current bool) *catalog {
	next := &catalog{current: Definitions{}, byVersion: map[string]Definition{}, first: map[string]Definition{}, slos: map[string]slos{}}
	if c != nil {
		for k, v := range c.current {
			next.current[k] = v
		}
		for k, v := range c.byVersion {
			next.byVersion[k] = v
		}
		for k, v := range c.first {
			next.first[k] = v
		}
		for k, v := range c.slos {
			next.slos[k] = v
		}
	}
	for _, d := range defs {
		key := versionKey(d)
		if current {
			next.current[d.Name] = d
		}
		next.byVersion[key] = d
		if _, ok := next.first[d.Name]; !ok {
			next.first[d.Name] = d
		}
		sl := slos{saga: d.SagaSLO()}
		for i := range d.Steps {
			sl.steps = append(sl.steps, d.StepSLO(i))
		}
		next.slos[key] = sl
	}
	return next
}

// versionKey names a definition version; a definition built in Go
// without a version is known by its name.
func versionKey(d Definition) string {
	if d.Version == "" {
		return d.Name
	}
	return d.Version
}

// SpecCompiler turns the definition file a SagaStarted event carries into
// the definition its saga runs. Package definition provides it; a machine
// without one knows only the definitions it was given.
type SpecCompiler func(spec json.RawMessage) (Definition, error)

var specCompiler atomic.Pointer[SpecCompiler]

// SetSpecCompiler installs the compiler of logged definition files, once
// per process (package definition does it when it is imported).
func SetSpecCompiler(c SpecCompiler) { specCompiler.Store(&c) }

// learn makes the definition a SagaStarted event carries known to the
// machine, when it does not know its version: compiled from the file the
// event holds, so that a log replays by its own definitions anywhere. The
// definition does not become the one new sagas start on.
func (m Machine) learn(p events.SagaStartedV1) error {
	if p.DefinitionVersion == "" || len(p.DefinitionSpec) == 0 || m.Known(p.DefinitionVersion) {
		return nil
	}
	compile := specCompiler.Load()
	if compile == nil {
		return nil
	}
	d, err := (*compile)(p.DefinitionSpec)
	if err != nil {
		return fmt.Errorf("definition %q version %s as logged: %w", p.Definition, p.DefinitionVersion, err)
	}
	if d.Name != p.Definition || d.Version != p.DefinitionVersion {
		return fmt.Errorf("the definition logged as %q version %s is %q version %s", p.Definition, p.DefinitionVersion, d.Name, d.Version)
	}
	m.Know(d)
	return nil
}

// pinned returns the definition a saga runs: the version it started on.
func (c *catalog) pinned(name, version string) (Definition, error) {
	if version == "" {
		if d, ok := c.first[name]; ok {
			return d, nil
		}
		return Definition{}, fmt.Errorf("unknown definition %q", name)
	}
	d, ok := c.byVersion[version]
	if !ok {
		return Definition{}, fmt.Errorf("definition %q version %s: %w", name, version, ErrUnknownVersion)
	}
	if d.Name != name {
		return Definition{}, fmt.Errorf("definition version %s is of %q, not %q", version, d.Name, name)
	}
	return d, nil
}

// Add gives the machine more definition versions, in the order they were
// published: each becomes the one its name's new sagas start on. Sagas
// already started keep theirs. Safe while other goroutines decide.
func (m Machine) Add(defs ...Definition) { m.swap(defs, true) }

// Know gives the machine definition versions to run the sagas pinned to
// them by, without any becoming the one new sagas start on: those a
// reader met in the log before it restarted, say.
func (m Machine) Know(defs ...Definition) { m.swap(defs, false) }

// swap puts in a catalog with defs added, current or not, unless another
// goroutine swapped first: then it adds them to that one.
func (m Machine) swap(defs []Definition, current bool) {
	for {
		old := m.cat.Load()
		if m.cat.CompareAndSwap(old, old.with(defs, current)) {
			return
		}
	}
}

// Known reports whether the machine has the definition version.
func (m Machine) Known(version string) bool {
	_, ok := m.load().byVersion[version]
	return ok
}

// Current returns the definitions new sagas start on, by name.
func (m Machine) Current() Definitions { return m.load().current }

// Pinned returns the definition version a saga runs.
func (m Machine) Pinned(s State) (Definition, bool) {
	d, err := m.load().pinned(s.Definition, s.DefinitionVersion)
	return d, err == nil
}

func newCatalog(defs Definitions) *atomic.Pointer[catalog] {
	p := &atomic.Pointer[catalog]{}
	list := make([]Definition, 0, len(defs))
	for _, d := range defs {
		list = append(list, d)
	}
	p.Store((*catalog)(nil).with(list, true))
	return p
}

// versionKeyOf is the catalog key of the version a saga runs. A saga
// logged before versions were recorded has none: its name's first.
func versionKeyOf(s State) string {
	if s.DefinitionVersion == "" {
		return s.Definition
	}
	return s.DefinitionVersion
}

// step returns the named step of the definition.
func (d Definition) step(name string) (Step, bool) {
	for _, st := range d.Steps {
		if st.Name == name {
			return st, true
		}
	}
	return Step{}, false
}
