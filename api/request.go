package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decodeJSON reads a JSON request body into v: application/json only
// (415), at most MaxBodyBytes (413), no unknown fields and nothing after
// the value (400).
// The fields named in required must be present: a number left out would
// otherwise read as zero.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, required ...string) error {
	if err := jsonContent(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	var raw json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return bodyError(err)
		}
		return badRequest("the body must hold one JSON value")
	}
	// A null field would decode as if it were left out; say so instead.
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		var missing []FieldError
		for _, k := range required {
			if _, ok := fields[k]; !ok {
				missing = append(missing, FieldError{Field: k, Message: k + " is required"})
			}
		}
		if len(missing) > 0 {
			return badRequest("the body lacks required fields", missing...)
		}
		var nulls []FieldError
		for k, v := range fields {
			if string(v) == "null" {
				nulls = append(nulls, FieldError{Field: k, Message: k + " must not be null"})
			}
		}
		if len(nulls) > 0 {
			sort.Slice(nulls, func(i, j int) bool { return nulls[i].Field < nulls[j].Field })
			return badRequest("the body has null fields", nulls...)
		}
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return bodyError(err)
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for bodies that may be left out.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	if r.ContentLength == 0 || (r.ContentLength < 0 && r.Header.Get("Content-Type") == "") {
		return nil
	}
	return decodeJSON(w, r, v)
}

func jsonContent(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return problem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			fmt.Sprintf("the body must be application/json, got %q", ct))
	}
	return nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return problem(http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the body is over %d bytes", MaxBodyBytes))
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not valid JSON")
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("the body must be a JSON object")
		}
		return badRequest("a field has the wrong type", FieldError{Field: field, Message: fmt.Sprintf("%s must be a %s", field, jsonKind(typ.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("the body has an unknown field", FieldError{Field: name, Message: "unknown field " + name})
	}
	return badRequest("the body could not be read")
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "float64":
		return "number"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "list"
	}
	return "object"
}

// preferWait reads RFC 7240's Prefer: wait=N (seconds), capped at limit.
// It returns 0 when the client does not ask to wait.
func preferWait(r *http.Request, limit time.Duration) time.Duration {
	for _, h := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`))
			if err != nil || n <= 0 {
				continue
			}
			if n >= int(limit/time.Second) {
				return limit
			}
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

// writeJSON writes v with status. Once the status is written there is no
// other answer to give, so a failed write (a client gone) is not an error.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return nil
}

// queryOnce refuses a query that gives a parameter more than once: which
// one would count is anyone's guess.
func queryOnce(r *http.Request) *Problem {
	var fields []FieldError
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			fields = append(fields, FieldError{Field: k, Message: k + " must be given at most once"})
		}
	}
	if len(fields) == 0 {
		return nil
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	return badRequest("the query repeats a parameter", fields...)
}
