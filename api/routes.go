package api

import (
	"net/http"
	"slices"
	"strings"
)

// route is one operation of the API: the OpenAPI document lists exactly
// these (a test checks both ways).
type route struct {
	method, path string
	// roles admitted; anyone, with or without a token, when empty.
	roles []Role
	h     handlerFunc
}

var (
	anyone     []Role
	signedIn   = []Role{RoleCustomer, RoleBackoffice}
	backoffice = []Role{RoleBackoffice}
)

// table is every route of the API.
func (s *Server) table() []route {
	return []route{
		{"GET", "/v1/health", anyone, s.health},
		{"GET", "/v1/openapi.json", anyone, s.openAPI},
		{"GET", "/.well-known/jwks.json", anyone, s.jwks},

		{"GET", "/v1/shows", anyone, s.searchShows},
		{"GET", "/v1/shows/{id}", anyone, s.getShow},
		{"POST", "/v1/shows", backoffice, s.addShow},

		{"POST", "/v1/bookings", signedIn, s.book},
		{"GET", "/v1/bookings/{ref}", signedIn, s.getBooking},
		{"GET", "/v1/bookings/{ref}/events", signedIn, s.bookingEvents},
		{"POST", "/v1/bookings/{ref}/cancel", signedIn, s.cancel},
		{"GET", "/v1/users/me/bookings", signedIn, s.myBookings},

		{"POST", "/v1/users", anyone, s.signUp},
		{"PUT", "/v1/users/me", signedIn, s.registerMe},
		{"GET", "/v1/signups/{id}", anyone, s.getSignup},
		{"POST", "/v1/users/{id}/block", backoffice, s.block},
		{"POST", "/v1/users/{id}/unblock", backoffice, s.unblock},

		{"GET", "/v1/sagas", backoffice, s.listSagas},
		{"GET", "/v1/sagas/{id}", backoffice, s.getSaga},
		{"POST", "/v1/sagas/{id}/retry", backoffice, s.retry},
		{"GET", "/v1/dlq", backoffice, s.listDLQ},
		{"POST", "/v1/dlq/{id}/redrive", backoffice, s.redrive},
		{"GET", "/v1/reconcile", backoffice, s.reconcile},

		{"GET", "/v1/definitions", backoffice, s.listDefinitions},
		{"POST", "/v1/definitions", backoffice, s.applyDefinition},
		{"GET", "/v1/definitions/{name}", backoffice, s.getDefinition},
		{"GET", "/v1/definitions/{name}/diff", backoffice, s.diffDefinition},

		{"POST", "/v1/webhooks", backoffice, s.subscribe},
		{"GET", "/v1/webhooks", backoffice, s.listWebhooks},
		{"GET", "/v1/webhooks/{id}", backoffice, s.getWebhook},
		{"DELETE", "/v1/webhooks/{id}", backoffice, s.deleteWebhook},
		{"GET", "/v1/webhooks/{id}/deliveries", backoffice, s.deliveries},
		{"POST", "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", backoffice, s.redeliver},
	}
}

// routes registers the table on the mux, with a problem+json 405 for a
// known path asked with another method, and 404 for any other path.
func (s *Server) routes() {
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.table() {
		s.mux.Handle(rt.method+" "+rt.path, s.serve(rt))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		s.mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, r, problem(http.StatusMethodNotAllowed, "method-not-allowed",
				r.Method+" is not allowed here; use "+allow).with("Allow", allow))
		}))
	}
	if s.cfg.Bus.Metrics != nil {
		s.mux.Handle("GET /metrics", s.cfg.Bus.Metrics.Handler())
	}
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, notFound("no such resource: "+r.URL.Path))
	}))
}
