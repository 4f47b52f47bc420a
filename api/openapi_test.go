package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIListsEveryRoute checks the committed document against the
// route table both ways: every route is documented, and every documented
// operation is served.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range (&Server{}).table() {
		served[rt.method+" "+rt.path] = true
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("operations in openapi.json that no route serves: %v", extra)
	}
}

// TestOpenAPIOperationsDescribeTheirRoles: each operation says who may
// call it, and those needing a token declare the bearer scheme.
func TestOpenAPIOperationsDescribeTheirRoles(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Description string             `json:"description"`
			Security    []map[string][]any `json:"security"`
			Responses   map[string]any     `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range (&Server{}).table() {
		op := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if !strings.HasPrefix(op.Description, "Roles: ") {
			t.Errorf("%s %s: no roles in its description", rt.method, rt.path)
		}
		if len(rt.roles) > 0 {
			if len(op.Security) != 1 || op.Security[0]["bearer"] == nil {
				t.Errorf("%s %s needs a token but does not declare the bearer scheme alone", rt.method, rt.path)
			}
			if op.Responses["403"] == nil {
				t.Errorf("%s %s: no 403 documented", rt.method, rt.path)
			}
		}
	}
}
