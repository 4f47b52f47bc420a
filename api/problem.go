package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ProblemType is the base of every problem type URI the API writes; the
// OpenAPI document describes each of them.
const ProblemType = "https://sagaflow.dev/problems/"

// FieldError names one invalid field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details object. Every error the API
// answers is one, so a client parses errors in exactly one way.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`

	// header holds response headers the problem needs (WWW-Authenticate,
	// Retry-After, Allow); they are not part of the body.
	header http.Header
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Title + ": " + p.Detail
	}
	return p.Title
}

// problem makes a problem of an HTTP status; slug names its type.
func problem(status int, slug, detail string) *Problem {
	return &Problem{Type: ProblemType + slug, Title: http.StatusText(status), Status: status, Detail: detail}
}

// with sets a response header of the problem.
func (p *Problem) with(k, v string) *Problem {
	if p.header == nil {
		p.header = http.Header{}
	}
	p.header.Set(k, v)
	return p
}

func badRequest(detail string, fields ...FieldError) *Problem {
	p := problem(http.StatusBadRequest, "invalid-request", detail)
	p.Errors = fields
	return p
}

func unauthorized(detail string) *Problem {
	p := problem(http.StatusUnauthorized, "unauthorized", detail)
	h := `Bearer realm="saga"`
	if detail != "" {
		h += `, error="invalid_token", error_description=` + strconv.Quote(detail)
	}
	return p.with("WWW-Authenticate", h)
}

func forbidden(detail string) *Problem { return problem(http.StatusForbidden, "forbidden", detail) }

func notFound(detail string) *Problem { return problem(http.StatusNotFound, "not-found", detail) }

func conflict(detail string) *Problem { return problem(http.StatusConflict, "conflict", detail) }

// unavailable is the answer when Kafka cannot take a request: the client
// may try again later with the same idempotency key.
func unavailable(detail string, retryAfter time.Duration) *Problem {
	return problem(http.StatusServiceUnavailable, "unavailable", detail).
		with("Retry-After", strconv.Itoa(max(1, int(retryAfter.Seconds()))))
}

// fieldErrors turns the joined validation errors of the events package
// ("seats must be between 1 and 10, got 0") into one entry per field: the
// messages start with the field's JSON name.
func fieldErrors(err error, known ...string) []FieldError {
	var out []FieldError
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		field, _, _ := strings.Cut(line, " ")
		if !contains(known, field) {
			field = ""
		}
		out = append(out, FieldError{Field: field, Message: line})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	for k, vs := range p.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// asProblem is the problem of any error a handler returns: a Problem as
// it is, anything else a 500 that tells nothing of the internals.
func asProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return problem(http.StatusInternalServerError, "internal", "the server could not answer; the error is in its log")
}
