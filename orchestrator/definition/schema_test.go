package definition_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/sagaflow/saga/orchestrator/definition"
)

const schemaFile = "../../docs/definition.schema.json"

func loadSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("definition.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("definition.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return sch, m
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func schemaFields(m map[string]any, path ...string) []string {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	var out []string
	for k := range m["properties"].(map[string]any) {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The schema in docs/ names exactly the fields a file may have.
func TestSchemaNamesEveryField(t *testing.T) {
	_, m := loadSchema(t)
	for _, c := range []struct {
		typ  reflect.Type
		path []string
	}{
		{reflect.TypeFor[definition.Spec](), nil},
		{reflect.TypeFor[definition.StepSpec](), []string{"$defs", "step"}},
		{reflect.TypeFor[definition.Retry](), []string{"$defs", "retry"}},
	} {
		if got, want := schemaFields(m, c.path...), jsonFields(c.typ); !slices.Equal(got, want) {
			t.Errorf("%v: the schema has %v, the file format %v", c.typ, got, want)
		}
	}
	if got := m["properties"].(map[string]any)["data"].(map[string]any)["enum"]; !reflect.DeepEqual(toStrings(got), definition.DataCheckNames()) {
		t.Errorf("the schema's data checks %v, the format's %v", got, definition.DataCheckNames())
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Every definition file of the product passes the schema, and so does its
// normal form; a file the schema refuses is refused by Parse or Compile.
func TestFilesPassTheSchema(t *testing.T) {
	sch, _ := loadSchema(t)
	files, _ := filepath.Glob("../flows/definitions/*.yaml")
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	for _, f := range append(files, more...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(js, &doc); err != nil {
			t.Fatal(err)
		}
		if _, ok := doc["steps"]; !ok {
			continue // not a definition (a services file)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		s, err := definition.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var normal any
		if err := json.Unmarshal(s.Canonical(), &normal); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(normal); err != nil {
			t.Errorf("%s in its normal form: %v", f, err)
		}
	}
	for name, doc := range map[string]string{
		"no steps":       `{"name":"x"}`,
		"an extra field": `{"name":"x","steps":[{"name":"a","service":"user","command":"VerifyUser"}],"compensaton":"y"}`,
		"a bad duration": `{"name":"x","timeout":"10","steps":[{"name":"a","service":"user","command":"VerifyUser"}]}`,
		"zero attempts":  `{"name":"x","retry":{"max_attempts":0},"steps":[{"name":"a","service":"user","command":"VerifyUser"}]}`,
	} {
		var v any
		_ = json.Unmarshal([]byte(doc), &v)
		if sch.Validate(v) == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
		s, err := definition.Parse([]byte(doc))
		if err == nil {
			_, err = s.Compile(definition.BuiltinServices())
		}
		if err == nil {
			t.Errorf("%s: the product accepts what the schema refuses", name)
		}
	}
}
