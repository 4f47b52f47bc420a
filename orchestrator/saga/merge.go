package saga

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// field is one top-level member of a JSON object: its key (which needs no
// escaping) and its raw value.
type field struct {
	key string
	val []byte
}

// mergeFields merges two JSON objects' top-level fields, add's winning, and
// writes them as json.Marshal writes a map[string]json.RawMessage. It
// declines (false) anything but two valid objects whose keys are plain
// printable ASCII, which json.Marshal writes as they are: mergeByMap then
// does it, and both give the same bytes (FuzzMergeObject checks that).
// Folding a saga log merges at every start and step result, and going
// through a map and reflection was a sixth of a fold's time.
func mergeFields(base, add []byte) ([]byte, bool) {
	var buf [16]field
	fs, ok := fields(buf[:0], base)
	if !ok {
		return nil, false
	}
	if fs, ok = fields(fs, add); !ok {
		return nil, false
	}
	// A stable sort keeps equal keys in their order: the last one wins, as
	// it does when a map is filled in order.
	slices.SortStableFunc(fs, func(a, b field) int { return strings.Compare(a.key, b.key) })
	size := 2
	for _, f := range fs {
		size += len(f.key) + len(f.val) + 4
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, f := range fs {
		if i+1 < len(fs) && fs[i+1].key == f.key {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, f.key...)
		out = append(out, '"', ':')
		out = appendCompact(out, f.val)
	}
	return append(out, '}'), true
}

// fields appends the members of the JSON object obj to dst; false when obj
// is not a valid object or has a key that is not plain.
func fields(dst []field, obj []byte) ([]field, bool) {
	if !json.Valid(obj) {
		return dst, false
	}
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return dst, false
	}
	i = skipSpace(obj, i+1)
	if obj[i] == '}' {
		return dst, true
	}
	for {
		// obj is valid: a key string, a colon, a value, then , or }.
		start := i + 1
		end := start
		for obj[end] != '"' {
			if c := obj[end]; c < 0x20 || c >= 0x7f || c == '\\' || c == '<' || c == '>' || c == '&' {
				return dst, false
			}
			end++
		}
		key := string(obj[start:end])
		i = skipSpace(obj, end+1) + 1 // past the colon
		i = skipSpace(obj, i)
		vstart := i
		i = valueEnd(obj, i)
		dst = append(dst, field{key: key, val: obj[vstart:i]})
		i = skipSpace(obj, i)
		if obj[i] == '}' {
			return dst, true
		}
		i = skipSpace(obj, i+1) // past the comma
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the end of the valid JSON value starting at i.
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
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
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// appendCompact appends a valid JSON value as json.Marshal writes a
// json.RawMessage: without insignificant space, with <, >, &, U+2028 and
// U+2029 escaped.
func appendCompact(dst, v []byte) []byte {
	plain := true
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xe2:
			plain = false
		}
	}
	if plain {
		return append(dst, v...)
	}
	var c bytes.Buffer
	_ = json.Compact(&c, v)
	var e bytes.Buffer
	json.HTMLEscape(&e, c.Bytes())
	return append(dst, e.Bytes()...)
}
