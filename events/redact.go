package events

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// SecretFields are the payload fields that only the service that uses
// them may see: a copy kept for people to read (a read model, a listing of
// dead letters) holds Redacted in their place.
var SecretFields = []string{"payment_token"}

// Redacted stands in for a secret's value.
const Redacted = "[redacted]"

// Redact returns payload with the value of every SecretFields member, at
// any depth, replaced by Redacted. A payload that is not JSON (a dead
// letter can be anything) has every `"payment_token": "..."` it contains
// replaced, so that a truncated or malformed message gives up no secret
// either. A payload with no secret comes back unchanged, byte for byte.
func Redact(payload []byte) []byte {
	if !mentionsSecret(payload) {
		return payload
	}
	var doc any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&doc); err == nil && !d.More() {
		if out, err := json.Marshal(redactValue(doc)); err == nil {
			return out
		}
	}
	return secretText.ReplaceAll(payload, []byte(`"$1":"`+Redacted+`"`))
}

// mentionsSecret reports whether payload may hold a secret: its name in
// any case (Go's decoder matches field names without regard to case), or
// any JSON string escape, which could spell the name differently.
func mentionsSecret(payload []byte) bool {
	if bytes.Contains(payload, []byte(`\u`)) {
		return true
	}
	lower := bytes.ToLower(payload)
	for _, f := range SecretFields {
		if bytes.Contains(lower, []byte(f)) {
			return true
		}
	}
	return false
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if isSecret(k) {
				v[k] = Redacted
				continue
			}
			v[k] = redactValue(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = redactValue(x)
		}
		return v
	default:
		return v
	}
}

func isSecret(field string) bool {
	for _, f := range SecretFields {
		if strings.EqualFold(field, f) {
			return true
		}
	}
	return false
}

// secretText finds a secret field with a string value (or the start of
// one) in text that is not JSON.
var secretText = regexp.MustCompile(`(?i)"(payment_token)"\s*:\s*"(?:[^"\\]|\\.)*"?`)

// WithoutSecrets returns the saga data object without its secret members
// (SecretFields, in any case) other than those named in keep: what a
// command to a service that does not need them carries. Data that holds
// no secret, or is not an object, comes back unchanged.
func WithoutSecrets(data json.RawMessage, keep ...string) json.RawMessage {
	if !mentionsSecret(data) {
		return data
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return data
	}
	dropped := false
	for k := range fields {
		if isSecret(k) && !kept(k, keep) {
			delete(fields, k)
			dropped = true
		}
	}
	if !dropped {
		return data
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return data
	}
	return out
}

func kept(field string, keep []string) bool {
	for _, k := range keep {
		if strings.EqualFold(field, k) {
			return true
		}
	}
	return false
}
