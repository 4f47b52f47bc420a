package readmodel

import (
	"encoding/json"

	"github.com/sagaflow/saga/events"
)

// stepOf is the step e's payload names, as json.Unmarshal reads its
// "step" field: the payload's top-level keys are scanned without decoding
// the rest, and anything the scan does not read as plainly as that
// (escapes, keys that are not ASCII, a step that is not a plain string)
// is left to json.Unmarshal.
func stepOf(e events.Envelope) string {
	if step, ok := scanStep(e.Payload); ok {
		return step
	}
	var p struct {
		Step string `json:"step"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.Step
}

// scanStep reads the "step" of a JSON object (valid JSON, as every checked
// payload is): the last key that equals "step" without regard to ASCII
// case, as encoding/json matches field names. ok is false when the scan
// cannot tell.
func scanStep(raw []byte) (step string, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return "", false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return "", true
	}
	for i < len(raw) {
		if raw[i] != '"' {
			return "", false
		}
		key, j, plain := plainString(raw, i)
		if !plain {
			return "", false
		}
		i = skipSpace(raw, j)
		if i >= len(raw) || raw[i] != ':' {
			return "", false
		}
		i = skipSpace(raw, i+1)
		if len(key) == 4 && equalFoldASCII(key, "step") {
			if i >= len(raw) || raw[i] != '"' {
				return "", false
			}
			v, j, plain := plainString(raw, i)
			if !plain {
				return "", false
			}
			step, i = string(v), j
		} else if i = skipValue(raw, i); i < 0 {
			return "", false
		}
		i = skipSpace(raw, i)
		switch {
		case i >= len(raw):
			return "", false
		case raw[i] == '}':
			return step, true
		case raw[i] != ',':
			return "", false
		}
		i = skipSpace(raw, i+1)
	}
	return "", false
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the string starting at raw[i] (a quote): its bytes and
// the index after it, with plain false when it has escapes, control
// characters or bytes that are not ASCII.
func plainString(raw []byte, i int) (s []byte, next int, plain bool) {
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipValue returns the index after the JSON value starting at raw[i]
// (the comma, brace or space that ends a number or literal), or -1.
func skipValue(raw []byte, i int) int {
	depth := 0
	for ; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
			if i >= len(raw) {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}

func equalFoldASCII(b []byte, s string) bool {
	for k := range b {
		c := b[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[k] {
			return false
		}
	}
	return true
}
