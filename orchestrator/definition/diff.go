package definition

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Diff lists what changes from a to b, a line each, in the words of the
// file: steps added, removed or moved (by name), and each field that
// differs, of a step or of the definition, with both values. Both are
// compared in their normal form, so a default written out is no change.
func Diff(a, b Spec) []string {
	a, b = a.Normal(), b.Normal()
	var out []string
	out = append(out, fieldDiff("", fields(a, "steps"), fields(b, "steps"))...)
	names := func(s Spec) []string {
		var n []string
		for _, st := range s.Steps {
			n = append(n, st.Name)
		}
		return n
	}
	an, bn := names(a), names(b)
	for i, st := range b.Steps {
		j := slices.Index(an, st.Name)
		if j < 0 {
			after := "first"
			if i > 0 {
				after = fmt.Sprintf("after %s", b.Steps[i-1].Name)
			}
			out = append(out, fmt.Sprintf("+ step %s (%s.%s) added, %s", st.Name, st.Service, st.Command, after))
			continue
		}
		out = append(out, fieldDiff("step "+st.Name+": ", fields(a.Steps[j], ""), fields(st, ""))...)
	}
	for _, st := range a.Steps {
		if !slices.Contains(bn, st.Name) {
			out = append(out, fmt.Sprintf("- step %s (%s.%s) removed", st.Name, st.Service, st.Command))
		}
	}
	common := func(x, y []string) []string {
		var c []string
		for _, n := range x {
			if slices.Contains(y, n) {
				c = append(c, n)
			}
		}
		return c
	}
	if ca, cb := common(an, bn), common(bn, an); !slices.Equal(ca, cb) {
		out = append(out, fmt.Sprintf("~ steps reordered: %v -> %v", ca, cb))
	}
	return out
}

// fields is a value's JSON fields, less the one named skip.
func fields(v any, skip string) map[string]string {
	raw, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	out := map[string]string{}
	for k, v := range m {
		if k != skip {
			out[k] = string(v)
		}
	}
	return out
}

func fieldDiff(prefix string, a, b map[string]string) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		av, aok := a[k]
		bv, bok := b[k]
		switch {
		case aok && !bok:
			out = append(out, fmt.Sprintf("~ %s%s: %s -> (none)", prefix, k, av))
		case !aok && bok:
			out = append(out, fmt.Sprintf("~ %s%s: (none) -> %s", prefix, k, bv))
		case av != bv:
			out = append(out, fmt.Sprintf("~ %s%s: %s -> %s", prefix, k, av, bv))
		}
	}
	return out
}
