package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
)

// aclTable is the README's table of principals, made from events.AccessOf.
func aclTable() string {
	code := func(names []string) string {
		if len(names) == 0 {
			return "-"
		}
		var once []string
		for _, n := range names {
			if !slices.Contains(once, n) {
				once = append(once, n)
			}
		}
		return "`" + strings.Join(once, "`, `") + "`"
	}
	var b strings.Builder
	b.WriteString("| principal | reads | writes | consumer group |\n|-----------|-------|--------|----------------|\n")
	for _, p := range events.Principals() {
		a := events.AccessOf(p)
		b.WriteString("| `" + p + "` | " + code(a.Reads) + " | " + code(a.Writes) + " | " + code(a.Groups) + " |\n")
	}
	return b.String()
}

// The README's table says what AccessOf, and so saga acl apply, grants.
func TestREADMEACLTable(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := aclTable(); !strings.Contains(string(raw), want) {
		t.Errorf("README's table of principals is not what events.AccessOf grants; it should read:\n%s", want)
	}
}
