package catalogue

import (
	"sort"

	"github.com/sagaflow/saga/orchestrator/saga"
)

func sortedNames(defs saga.Definitions) []string {
	out := make([]string, 0, len(defs))
	for name := range defs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
