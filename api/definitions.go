package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/orchestrator/definition"
)

// Definition is a published version as the API shows it: the fields of
// `saga definitions list -o json`, and the file itself when one is shown.
type Definition = catalogue.Listing

// catalogueNow is every published version, read within the publish
// timeout: a broker that does not answer is a 503, not a hang.
func (s *Server) catalogueNow(ctx context.Context) ([]catalogue.Version, error) {
	var vs []catalogue.Version
	err := s.withTimeout(ctx, func(ctx context.Context) error {
		var err error
		vs, err = s.defs.All(ctx)
		return err
	})
	return vs, err
}

// listDefinitions is GET /v1/definitions?all=: each name at the version
// new sagas start on, or every version oldest first.
func (s *Server) listDefinitions(w http.ResponseWriter, r *http.Request, _ Identity) error {
	all := false
	if q := r.URL.Query(); q.Has("all") {
		switch q.Get("all") {
		case "true":
			all = true
		case "false":
		default:
			return badRequest("the query is not valid", FieldError{Field: "all", Message: fmt.Sprintf("all must be true or false, got %q", q.Get("all"))})
		}
	}
	vs, err := s.catalogueNow(r.Context())
	if err != nil {
		return err
	}
	current := catalogue.Current(vs)
	out := []Definition{}
	for _, v := range vs {
		isCurrent := current[v.Name].Offset == v.Offset
		if all || isCurrent {
			out = append(out, v.Listing(isCurrent))
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"definitions": out})
}

// findVersion is catalogue.Find with its errors as problems; field names
// the parameter that gave the version.
func findVersion(vs []catalogue.Version, name, version, field string) (catalogue.Version, error) {
	v, err := catalogue.Find(vs, name, version)
	switch {
	case errors.Is(err, catalogue.ErrNoDefinition), errors.Is(err, catalogue.ErrNoVersion):
		return v, notFound(err.Error())
	case err != nil:
		why := strings.TrimPrefix(err.Error(), catalogue.ErrAmbiguous.Error()+": ")
		return v, badRequest("the version is ambiguous", FieldError{Field: field, Message: field + " " + why})
	}
	return v, nil
}

// getDefinition is GET /v1/definitions/{name}?version=: a version with
// its file, the current one by default.
func (s *Server) getDefinition(w http.ResponseWriter, r *http.Request, _ Identity) error {
	vs, err := s.catalogueNow(r.Context())
	if err != nil {
		return err
	}
	v, err := findVersion(vs, r.PathValue("name"), r.URL.Query().Get("version"), "version")
	if err != nil {
		return err
	}
	d := v.Listing(catalogue.Current(vs)[v.Name].Offset == v.Offset)
	spec := v.Spec
	d.Spec = &spec
	return writeJSON(w, http.StatusOK, d)
}

// DefinitionDiff is what changes from one version to another.
type DefinitionDiff struct {
	Name    string   `json:"name"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Changes []string `json:"changes"`
}

// diffDefinition is GET /v1/definitions/{name}/diff?from=&to=.
func (s *Server) diffDefinition(w http.ResponseWriter, r *http.Request, _ Identity) error {
	q := r.URL.Query()
	var fields []FieldError
	for _, k := range []string{"from", "to"} {
		if q.Get(k) == "" {
			fields = append(fields, FieldError{Field: k, Message: k + " is required: a version or a unique prefix of it"})
		}
	}
	if len(fields) > 0 {
		return badRequest("the query is not valid", fields...)
	}
	vs, err := s.catalogueNow(r.Context())
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	a, err := findVersion(vs, name, q.Get("from"), "from")
	if err != nil {
		return err
	}
	b, err := findVersion(vs, name, q.Get("to"), "to")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, DefinitionDiff{Name: name, From: a.Version, To: b.Version,
		Changes: append([]string{}, definition.Diff(a.Spec, b.Spec)...)})
}

// applyDefinition is POST /v1/definitions: a definition file (JSON or
// YAML) checked with every problem named, then published, signed as the
// operator with the acting identity as its actor: 201 when it is a new
// current version, 200 when it already was.
func (s *Server) applyDefinition(w http.ResponseWriter, r *http.Request, id Identity) error {
	raw, err := readDefinitionBody(w, r)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return badRequest("the body is not " + bodyKind(r))
	}
	if nulls := nullFields(js); len(nulls) > 0 {
		p := problem(http.StatusUnprocessableEntity, "invalid-definition", "a null field would read as left out: leave it out instead")
		p.Errors = nulls
		return p
	}
	spec, err := definition.Parse(js)
	if err != nil {
		return invalidDefinition(err)
	}
	def, err := spec.Compile(s.services)
	if err != nil {
		return invalidDefinition(err, fmt.Sprintf("definition %q is invalid: ", spec.Name), spec.Name+": ")
	}
	var published bool
	if err := s.withTimeout(r.Context(), func(ctx context.Context) error {
		var err error
		published, err = catalogue.Publish(ctx, s.cfg.Bus, s.cfg.Operator, def, id.Actor(), s.now())
		if err != nil {
			return err
		}
		// This server's own readers see the version at once.
		return s.defs.Refresh(ctx)
	}); err != nil {
		return err
	}
	d := catalogue.ListingOf(def.Name, def.Version, spec)
	d.Current, d.Published = true, &published
	if v, ok, err := s.defs.Version(r.Context(), def.Version); err == nil && ok {
		at := v.At
		d.Actor, d.PublishedAt = v.Actor, &at
	}
	status := http.StatusOK
	if published {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/definitions/"+def.Name+"?version="+def.Version)
	return writeJSON(w, status, d)
}

// yamlTypes are the media types a definition may be posted as besides JSON.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

// readDefinitionBody reads a body of JSON or YAML, at most MaxBodyBytes.
func readDefinitionBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json") || contains(yamlTypes, mt)) {
		return nil, problem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			fmt.Sprintf("a definition is application/json or application/yaml, got %q", ct))
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, problem(http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the body is over %d bytes", MaxBodyBytes))
	case err != nil:
		return nil, badRequest("the body could not be read")
	case len(strings.TrimSpace(string(raw))) == 0:
		return nil, badRequest("the body is empty")
	}
	return raw, nil
}

func bodyKind(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if contains(yamlTypes, mt) {
		return "valid YAML"
	}
	return "valid JSON"
}

// invalidDefinition is the 422 of a definition that does not check: one
// entry per problem, each naming the field (or step) it is about.
func invalidDefinition(err error, prefixes ...string) *Problem {
	var fields []FieldError
	for _, line := range strings.Split(err.Error(), "\n") {
		for _, p := range prefixes {
			line = strings.TrimPrefix(line, p)
		}
		line = strings.TrimSpace(line)
		if line != "" {
			fields = append(fields, FieldError{Field: definitionField(line), Message: line})
		}
	}
	p := problem(http.StatusUnprocessableEntity, "invalid-definition",
		fmt.Sprintf("the definition is not valid: %d problem(s), each in errors", len(fields)))
	p.Errors = fields
	return p
}

// definitionField is the field of the file a problem is about.
func definitionField(msg string) string {
	for _, f := range []string{"name", "data", "steps", "timeout", "retry", "compensation_retry", "slo", "required"} {
		if strings.HasPrefix(msg, f+" ") || strings.HasPrefix(msg, f+":") {
			return f
		}
	}
	switch {
	case strings.HasPrefix(msg, "step "), strings.HasPrefix(msg, "at least one step"):
		return "steps"
	case strings.HasPrefix(msg, "compensations "):
		return "compensation_retry"
	case strings.HasPrefix(msg, "the SLO "):
		return "slo"
	case strings.HasPrefix(msg, "definition name "):
		return "name"
	}
	return ""
}

// nullFields names every null in a JSON document, by its path.
func nullFields(js []byte) []FieldError {
	var v any
	if json.Unmarshal(js, &v) != nil {
		return nil
	}
	var out []FieldError
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			if path != "" {
				out = append(out, FieldError{Field: path, Message: path + " must not be null"})
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(strings.TrimPrefix(path+"."+k, "."), x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
	return out
}
