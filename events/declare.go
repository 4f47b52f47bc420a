package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync/atomic"
)

// ServiceDecl declares a participant that runs outside this binary, in
// any language: its name (its principal, and its topics <name>.commands
// and <name>.events), the saga data field that keys its commands, the
// commands it takes and the saga data the conformance kit sends it.
type ServiceDecl struct {
	Name string `json:"name"`
	// Key names the saga data field whose value keys the service's
	// commands; empty means the saga id.
	Key      string        `json:"key,omitempty"`
	Commands []CommandDecl `json:"commands"`
	// Sample is saga data (a JSON object) a command of the service
	// succeeds with; the conformance kit sends it.
	Sample json.RawMessage `json:"sample,omitempty"`
}

// CommandDecl is one command of a declared service and the command that
// undoes it (empty for a command without effect).
type CommandDecl struct {
	Name         Type `json:"name"`
	Compensation Type `json:"compensation,omitempty"`
}

// declaration is the process-wide set of services, immutable once built:
// Declare swaps it whole, so a reader never sees half of one.
type declaration struct {
	declared []ServiceDecl
	// services is the built-ins, then the declared ones.
	services []string
	// commands maps each declared command type to its service.
	commands map[Type]string
	// readers is every topic's checking readers (see ReadersOf).
	readers map[string][]string
}

var current atomic.Pointer[declaration]

func init() { current.Store(build(nil)) }

func decl() *declaration { return current.Load() }

// Declare sets the services declared in configuration, in addition to the
// built-ins, for the whole process: Services, Principals, AccessOf,
// MayWrite, ReadersOf and the type registry include them from then on.
// A process declares once, at start, before any part runs; a later call
// replaces the declaration (nil clears it). A declaration that
// ValidateServices refuses changes nothing.
func Declare(decls []ServiceDecl) error {
	if err := ValidateServices(decls); err != nil {
		return err
	}
	current.Store(build(slices.Clone(decls)))
	return nil
}

// Declared returns the services declared in configuration; the caller
// must not change them.
func Declared() []ServiceDecl { return decl().declared }

// DeclaredService returns the declaration of a declared service.
func DeclaredService(name string) (ServiceDecl, bool) {
	for _, d := range decl().declared {
		if d.Name == name {
			return d, true
		}
	}
	return ServiceDecl{}, false
}

// ServiceOf returns the declared service that takes command type typ.
func ServiceOf(typ Type) (string, bool) {
	s, ok := decl().commands[typ]
	return s, ok
}

func build(decls []ServiceDecl) *declaration {
	d := &declaration{declared: decls, services: BuiltinServices(), commands: map[Type]string{}}
	for _, s := range decls {
		d.services = append(d.services, s.Name)
		for _, c := range s.Commands {
			d.commands[c.Name] = s.Name
			if c.Compensation != "" {
				d.commands[c.Compensation] = s.Name
			}
		}
	}
	d.readers = map[string][]string{}
	for _, p := range d.principals() {
		if p == PrincipalOperator {
			continue
		}
		for _, t := range d.access(p).Reads {
			if !slices.Contains(d.readers[t], p) {
				d.readers[t] = append(d.readers[t], p)
			}
		}
	}
	return d
}

var (
	serviceName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
	fieldName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	typeName    = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,63}$`)
)

// reservedNames may not be declared: the principals of the product, and
// "saga", whose <name>.events would be the saga log.
var reservedNames = []string{PrincipalOrchestrator, PrincipalClient, PrincipalOperator, "saga"}

// ValidateServices reports every problem of a declaration at once: a
// name that is not a lowercase word, taken by a built-in part or declared
// twice; a key that is not a field name; a service without commands; a
// command type that is malformed, a type of the product, or declared
// twice (command and compensation types are one namespace); a sample that
// is not an object or lacks the key field.
func ValidateServices(decls []ServiceDecl) error {
	var errs []error
	names := map[string]bool{}
	types := map[Type]string{}
	for i, s := range decls {
		at := fmt.Sprintf("services[%d]", i)
		if s.Name != "" {
			at = fmt.Sprintf("service %q", s.Name)
		}
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is required", at))
		case !serviceName.MatchString(s.Name):
			errs = append(errs, fmt.Errorf("%s: name must be lowercase letters, digits and dashes, starting with a letter, at most 40", at))
		case slices.Contains(BuiltinServices(), s.Name):
			errs = append(errs, fmt.Errorf("%s: a built-in service; it needs no declaration", at))
		case slices.Contains(reservedNames, s.Name):
			errs = append(errs, fmt.Errorf("%s: name is reserved", at))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("%s: declared twice", at))
		}
		names[s.Name] = true
		if s.Key != "" && !fieldName.MatchString(s.Key) {
			errs = append(errs, fmt.Errorf("%s: key %q is not a field name", at, s.Key))
		}
		if len(s.Commands) == 0 {
			errs = append(errs, fmt.Errorf("%s: at least one command is required", at))
		}
		for j, c := range s.Commands {
			if c.Compensation != "" && c.Compensation == c.Name {
				errs = append(errs, fmt.Errorf("%s: command %q is its own compensation", at, c.Name))
			}
			for _, t := range []struct {
				what string
				name Type
			}{{"command", c.Name}, {"compensation", c.Compensation}} {
				switch {
				case t.name == "" && t.what == "command":
					errs = append(errs, fmt.Errorf("%s: commands[%d]: name is required", at, j))
				case t.name == "":
				case !typeName.MatchString(string(t.name)):
					errs = append(errs, fmt.Errorf("%s: %s %q must be a letter and digits word starting with a capital, at most 64", at, t.what, t.name))
				case builtinKnown(t.name):
					errs = append(errs, fmt.Errorf("%s: %s %q is a message type of the product", at, t.what, t.name))
				case types[t.name] != "":
					errs = append(errs, fmt.Errorf("%s: %s %q is declared twice (also by %s)", at, t.what, t.name, types[t.name]))
				default:
					types[t.name] = at
				}
			}
		}
		errs = append(errs, checkSample(at, s)...)
	}
	return errors.Join(errs...)
}

func checkSample(at string, s ServiceDecl) []error {
	if len(s.Sample) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if !isObject(s.Sample) || json.Unmarshal(s.Sample, &fields) != nil {
		return []error{fmt.Errorf("%s: sample must be an object", at)}
	}
	if s.Key == "" {
		return nil
	}
	var v string
	if json.Unmarshal(fields[s.Key], &v) != nil || v == "" {
		return []error{fmt.Errorf("%s: sample must hold the key field %q, a non-empty string", at, s.Key)}
	}
	return nil
}
