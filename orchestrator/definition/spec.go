// Package definition reads saga definitions written as data (YAML or JSON
// files), checks them against the services that exist, names each by a
// content hash (its version) and compiles it into the saga.Definition the
// state machine runs. A definition is data: a team adds a workflow by
// writing a file and applying it, never by editing the product.
package definition

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"
)

// Spec is a definition file: the schema in docs/definition.schema.json.
type Spec struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Steps       []StepSpec `json:"steps"`
	// Timeout and Retry are the defaults of every step.
	Timeout           Duration `json:"timeout,omitempty"`
	Retry             *Retry   `json:"retry,omitempty"`
	CompensationRetry *Retry   `json:"compensation_retry,omitempty"`
	SLO               Duration `json:"slo,omitempty"`
	// Data names a built-in check of a start request's data (DataChecks);
	// Required lists fields it must carry otherwise.
	Data     string   `json:"data,omitempty"`
	Required []string `json:"required,omitempty"`
	// RefFromSagaID says a request's booking reference must be the one
	// derived from its saga id, so one reference names one booking.
	RefFromSagaID bool `json:"ref_from_saga_id,omitempty"`
}

// StepSpec is one step of a definition file.
type StepSpec struct {
	Name         string   `json:"name"`
	Service      string   `json:"service"`
	Command      string   `json:"command"`
	Compensation string   `json:"compensation,omitempty"`
	Key          string   `json:"key,omitempty"`
	Pivot        bool     `json:"pivot,omitempty"`
	Timeout      Duration `json:"timeout,omitempty"`
	Retry        *Retry   `json:"retry,omitempty"`
	Secrets      []string `json:"secrets,omitempty"`
	SLO          Duration `json:"slo,omitempty"`
}

// Retry is a retry policy as written in a file.
type Retry struct {
	MaxAttempts int      `json:"max_attempts"`
	Backoff     Duration `json:"backoff,omitempty"`
	MaxBackoff  Duration `json:"max_backoff,omitempty"`
}

// Duration is a time.Duration written as Go writes one ("10s", "1m30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "10s"; a bare number is refused, its unit unclear.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %v", s, err)
	}
	*d = Duration(v)
	return nil
}

// Default step timings, as the shipped definitions use them.
var (
	DefaultTimeout           = Duration(10 * time.Second)
	DefaultRetry             = Retry{MaxAttempts: 3, Backoff: Duration(500 * time.Millisecond), MaxBackoff: Duration(10 * time.Second)}
	DefaultCompensationRetry = Retry{MaxAttempts: 5, Backoff: Duration(500 * time.Millisecond), MaxBackoff: Duration(30 * time.Second)}
)

// maxFileBytes bounds a definition file: a definition is a page, not a log.
const maxFileBytes = 1 << 20

// Parse reads a definition from YAML or JSON. Unknown fields are errors:
// a misspelt "compensaton" must not silently leave a step without one.
func Parse(raw []byte) (Spec, error) {
	var s Spec
	if len(raw) > maxFileBytes {
		return s, fmt.Errorf("a definition file is at most %d bytes, got %d", maxFileBytes, len(raw))
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return s, fmt.Errorf("not YAML or JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("not a definition: %v", err)
	}
	if dec.More() {
		return s, errors.New("not a definition: more than one document")
	}
	return s, nil
}

// Normal returns the spec with every default written out, so that two
// files that mean the same thing have the same version.
func (s Spec) Normal() Spec {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Retry == nil {
		r := DefaultRetry
		s.Retry = &r
	}
	if s.CompensationRetry == nil {
		r := DefaultCompensationRetry
		s.CompensationRetry = &r
	}
	steps := make([]StepSpec, len(s.Steps))
	for i, st := range s.Steps {
		if st.Timeout == 0 {
			st.Timeout = s.Timeout
		}
		if st.Retry == nil {
			r := *s.Retry
			st.Retry = &r
		}
		steps[i] = st
	}
	s.Steps = steps
	return s
}

// Canonical is the normal spec as compact JSON: what the version hashes
// and what the catalogue stores.
func (s Spec) Canonical() []byte {
	b, err := json.Marshal(s.Normal())
	if err != nil {
		panic("definition: a spec always encodes: " + err.Error())
	}
	return b
}

// Compact is the normal spec as small as it reads the same: what its
// defaults give is left out (a step's timeout and retry when they are the
// definition's, the definition's when they are the product's). Every saga
// that starts on a version logs it, so it is the form the log carries;
// Normal of it is Normal of the spec, so it has the same version.
func (s Spec) Compact() []byte {
	n := s.Normal()
	top := n
	steps := make([]StepSpec, len(n.Steps))
	for i, st := range n.Steps {
		if st.Timeout == top.Timeout {
			st.Timeout = 0
		}
		if *st.Retry == *top.Retry {
			st.Retry = nil
		}
		steps[i] = st
	}
	n.Steps = steps
	if n.Timeout == DefaultTimeout {
		n.Timeout = 0
	}
	if *n.Retry == DefaultRetry {
		n.Retry = nil
	}
	if *n.CompensationRetry == DefaultCompensationRetry {
		n.CompensationRetry = nil
	}
	b, err := json.Marshal(n)
	if err != nil {
		panic("definition: a spec always encodes: " + err.Error())
	}
	return b
}

// Version is the content hash of the normal spec: the same definition
// has the same version everywhere, and any change makes a new one.
func (s Spec) Version() string {
	sum := sha256.Sum256(s.Canonical())
	return hex.EncodeToString(sum[:6])
}
