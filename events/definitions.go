package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// TopicDefinitions is the catalogue of saga definitions: every version
// ever applied, in order, kept forever on one partition. The last version
// of a name is the one its new sagas start on.
const TopicDefinitions = "saga.definitions"

// DefinitionPublished records a definition version on TopicDefinitions.
const DefinitionPublished Type = "DefinitionPublished"

// DefinitionPublishedV1 is a definition version: its file as canonical
// JSON, and the version that is that file's hash.
type DefinitionPublishedV1 struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Spec    json.RawMessage `json:"spec"`
}

// Validate reports what is wrong with a DefinitionPublishedV1 payload
// (events.Check calls it); the file itself is package definition's to check.
func (p DefinitionPublishedV1) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if len(p.Version) != 12 {
		errs = append(errs, fmt.Errorf("version must be 12 hex digits, got %q", p.Version))
	}
	if len(p.Spec) == 0 || p.Spec[0] != '{' || !json.Valid(p.Spec) {
		errs = append(errs, errors.New("spec must be a JSON object"))
	}
	return errors.Join(errs...)
}

// DefinitionEventID is the id of the record of a definition version: one
// version published twice is one record twice.
func DefinitionEventID(version string) string { return "definition-" + version }
