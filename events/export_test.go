package events

import "sort"

// RegisteredTypes lists every type in the registry, sorted, so that the
// external tests can make sure they cover all of them.
func RegisteredTypes() []string {
	out := make([]string, 0, len(kinds))
	for typ := range kinds {
		out = append(out, typ)
	}
	sort.Strings(out)
	return out
}
