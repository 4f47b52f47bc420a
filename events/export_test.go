package events

import "slices"

// RegisteredTypes lists every type in the registry, sorted, so that the
// external tests can make sure they cover all of them.
func RegisteredTypes() []Type {
	out := make([]Type, 0, len(kinds))
	for typ := range kinds {
		out = append(out, typ)
	}
	slices.Sort(out)
	return out
}
