package api

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
)

// Bounds of a booking's extra data.
const (
	MaxExtraFields = 32
	maxExtraKey    = 64
)

// bookingFields are the saga data's own fields of a booking: extra data
// may not replace them, and the payment token is given only as itself.
var bookingFields = []string{"booking_ref", "user_id", "show_id", "seats", "payment_token", "amount_cents", "charge_id", "reservation"}

// books says whether sagas of a definition are bookings: book-ticket and
// those applied, not the product's other shipped workflows.
func books(def string) bool {
	if def == flows.BookTicket {
		return true
	}
	_, shipped := flows.All()[def]
	return !shipped
}

// checkExtra checks a booking's definition name and its extra data
// fields, each problem once.
func checkExtra(def string, extra map[string]json.RawMessage) []FieldError {
	var bad []FieldError
	if !books(def) {
		bad = append(bad, FieldError{Field: "definition", Message: fmt.Sprintf("definition %q is not one that books", def)})
	}
	if len(extra) > MaxExtraFields {
		bad = append(bad, FieldError{Field: "data", Message: fmt.Sprintf("data has at most %d fields, got %d", MaxExtraFields, len(extra))})
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "" || len(k) > maxExtraKey:
			bad = append(bad, FieldError{Field: "data", Message: fmt.Sprintf("data's field names are 1 to %d characters, got %q", maxExtraKey, k)})
		case contains(bookingFields, k):
			bad = append(bad, FieldError{Field: "data." + k, Message: fmt.Sprintf("data.%s is the booking's own field: give it at the top of the request, not in data", k)})
		case string(extra[k]) == "null":
			bad = append(bad, FieldError{Field: "data." + k, Message: fmt.Sprintf("data.%s must not be null", k)})
		}
	}
	return bad
}

// checkDefinition refuses a booking whose definition the catalogue does
// not hold, or whose data its current version refuses, before it is
// posted: the orchestrator would only dead-letter it. book-ticket is
// always there (the orchestrator registers it); its check already ran
// unless extra data was given.
func (s *Server) checkDefinition(ctx context.Context, e events.Envelope, extra bool) error {
	p, err := events.Decode[events.StartSagaV1](e)
	if err != nil {
		return err
	}
	if p.Definition == flows.BookTicket && !extra {
		return nil
	}
	var v catalogue.Version
	var ok bool
	if err := s.withTimeout(ctx, func(ctx context.Context) error {
		var err error
		v, ok, err = s.defs.Current(ctx, p.Definition)
		return err
	}); err != nil {
		return err
	}
	if !ok {
		return badRequest("the booking is not valid", FieldError{Field: "definition",
			Message: fmt.Sprintf("unknown definition %q (GET /v1/definitions names them)", p.Definition)})
	}
	if check := v.Def.ValidateData; check != nil {
		if err := check(p.Data); err != nil {
			fields := fieldErrors(err, bookingFields...)
			for i, f := range fields {
				if f.Field == "" {
					// Another field is one of data's, the definition's own.
					fields[i].Field = "data"
					if word, _, _ := strings.Cut(f.Message, " "); word != "" && !strings.ContainsAny(word, ":\"'") {
						fields[i].Field = "data." + word
					}
				}
				fields[i].Message = fmt.Sprintf("%s version %s: %s", v.Name, v.Version, f.Message)
			}
			return badRequest(fmt.Sprintf("the booking's data is not what %s needs", v.Name), fields...)
		}
	}
	return nil
}
