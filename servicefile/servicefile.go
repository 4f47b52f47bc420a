// Package servicefile reads the services file: the participants that run
// outside the binary, declared in YAML or JSON so that a definition can
// name them and the system provisions their topics, keys and users. It
// reads the file and nothing else; events.Declare makes the declaration
// the process's.
package servicefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/sagaflow/saga/events"
)

// MaxBytes caps a services file: a few services take a few hundred bytes,
// and the YAML parser is not fed whatever a path points at.
const MaxBytes = 1 << 20

// File is the services file's shape.
type File struct {
	Services []events.ServiceDecl `json:"services"`
}

// Load reads and parses the services file at path.
func Load(path string) ([]events.ServiceDecl, error) {
	f, err := os.Open(path) //nolint:gosec // the operator names the file
	if err != nil {
		return nil, fmt.Errorf("services file: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("services file %s: %w", path, err)
	}
	decls, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("services file %s: %w", path, err)
	}
	return decls, nil
}

// Parse reads a services file's content, YAML or JSON, strictly: an
// unknown field anywhere, a value of the wrong type or trailing content is
// refused, and every problem found is reported at once (see
// events.ValidateServices for what a declaration must be).
func Parse(data []byte) ([]events.ServiceDecl, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("over %d bytes", MaxBytes)
	}
	raw, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, errors.New("want a mapping with a services list")
	}
	errs := unknownFields(top)
	if len(errs) == 0 {
		// Unknown fields are all reported above; what is left to find is
		// a value of the wrong type.
		var f File
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, err
		}
		if _, ok := top["services"]; !ok {
			return nil, errors.New("services is required")
		}
		if err := events.ValidateServices(f.Services); err != nil {
			return nil, err
		}
		return f.Services, nil
	}
	return nil, errors.Join(errs...)
}

// fields are the known fields of each level of the file.
var (
	topFields     = []string{"services"}
	serviceFields = []string{"name", "key", "commands", "sample"}
	commandFields = []string{"name", "compensation"}
)

// unknownFields names every field the file has and its shape lacks.
func unknownFields(top map[string]any) []error {
	errs := unknownIn("", top, topFields)
	list, _ := top["services"].([]any)
	for i, s := range list {
		svc, ok := s.(map[string]any)
		if !ok {
			continue // the typed decode reports it
		}
		at := fmt.Sprintf("services[%d]", i)
		errs = append(errs, unknownIn(at, svc, serviceFields)...)
		cmds, _ := svc["commands"].([]any)
		for j, c := range cmds {
			if cmd, ok := c.(map[string]any); ok {
				errs = append(errs, unknownIn(fmt.Sprintf("%s.commands[%d]", at, j), cmd, commandFields)...)
			}
		}
	}
	return errs
}

func unknownIn(at string, m map[string]any, known []string) []error {
	var names []string
	for k := range m {
		if !slices.Contains(known, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	errs := make([]error, 0, len(names))
	for _, k := range names {
		where := k
		if at != "" {
			where = at + "." + k
		}
		errs = append(errs, fmt.Errorf("%s: unknown field (known: %v)", where, known))
	}
	return errs
}
