package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/sagaflow/saga/api/webhook"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// MaxIdempotencyKey bounds an Idempotency-Key header.
const MaxIdempotencyKey = 200

// reservedKeyPrefixes are the idempotency keys the product derives for
// its own sagas (a cancellation's, a show's): a booking may not take one,
// or it could pre-empt the saga it names.
var reservedKeyPrefixes = []string{"cancel:", "show:", "seed:", "signup:"}

// bookingRequest is the body of POST /v1/bookings.
type bookingRequest struct {
	// UserID is whom a back-office member books for; a customer books for
	// themself and may leave it out.
	UserID       string `json:"user_id,omitempty"`
	ShowID       string `json:"show_id"`
	Seats        int    `json:"seats"`
	PaymentToken string `json:"payment_token"`
	// CallbackURL, when given, gets this booking's webhook events.
	CallbackURL *string `json:"callback_url,omitempty"`
	// Definition is the saga definition that books (book-ticket when
	// empty): one applied with steps of its own, a hotel room say.
	Definition string `json:"definition,omitempty"`
	// Data are more fields of the saga's data, for such a definition's
	// steps; they cannot replace the booking's own fields.
	Data map[string]json.RawMessage `json:"data,omitempty"`
}

// Booking is a booking as the API shows it.
type Booking struct {
	BookingRef  string `json:"booking_ref"`
	SagaID      string `json:"saga_id"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	UserID      string `json:"user_id"`
	ShowID      string `json:"show_id,omitempty"`
	Seats       int    `json:"seats,omitempty"`
	AmountCents int64  `json:"amount_cents,omitempty"`
	Actor       string `json:"actor,omitempty"`
	// Definition and DefinitionVersion are what the saga runs.
	Definition        string                 `json:"definition,omitempty"`
	DefinitionVersion string                 `json:"definition_version,omitempty"`
	StartedAt         *time.Time             `json:"started_at,omitempty"`
	UpdatedAt         *time.Time             `json:"updated_at,omitempty"`
	Steps             []projections.StepView `json:"steps"`
	Cancel            *Cancellation          `json:"cancellation,omitempty"`
	// Callback is the booking's callback subscription, with its secret in
	// the answer that made it.
	Callback *webhook.Subscription `json:"callback,omitempty"`
}

// Cancellation is the cancel-booking saga of a booking.
type Cancellation struct {
	SagaID string                 `json:"saga_id"`
	Status string                 `json:"status"`
	Reason string                 `json:"reason,omitempty"`
	Steps  []projections.StepView `json:"steps"`
}

func idempotencyKey(r *http.Request) (string, error) {
	vals, given := r.Header["Idempotency-Key"]
	if !given {
		return uuid.NewString(), nil
	}
	key := strings.Join(vals, ",")
	bad := key == "" || len(key) > MaxIdempotencyKey || strings.IndexFunc(key, func(c rune) bool { return !unicode.IsPrint(c) || c > unicode.MaxASCII }) >= 0
	if bad {
		return "", badRequest("invalid Idempotency-Key", FieldError{Field: "Idempotency-Key",
			Message: fmt.Sprintf("Idempotency-Key must be 1 to %d printable ASCII characters", MaxIdempotencyKey)})
	}
	for _, p := range reservedKeyPrefixes {
		if strings.HasPrefix(key, p) {
			return "", badRequest("invalid Idempotency-Key", FieldError{Field: "Idempotency-Key",
				Message: fmt.Sprintf("Idempotency-Key must not start with %q: the product derives such keys itself", p)})
		}
	}
	return key, nil
}

// requestFields are the fields of a booking request a repeated key must
// repeat: what the client asked for, not what the steps added. The
// payment token counts only as given or not: the read model the earlier
// request is looked up in does not hold it.
func requestFields(d events.BookingData, extra map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(extra)+4)
	for k, v := range extra {
		out[k] = v
	}
	out["user_id"], out["show_id"], out["seats"] = events.MustJSON(d.UserID), events.MustJSON(d.ShowID), events.MustJSON(d.Seats)
	if d.PaymentToken != "" {
		out["payment_token"] = events.MustJSON(events.Redacted)
	}
	return out
}

func requestFingerprint(def string, fields map[string]json.RawMessage) string {
	return events.RequestFingerprint(def, events.MustJSON(fields))
}

// startedFingerprint is requestFingerprint of the fields asked for, as a
// saga's data holds them.
func startedFingerprint(def string, fields map[string]json.RawMessage, sagaData json.RawMessage) string {
	var held map[string]json.RawMessage
	_ = json.Unmarshal(sagaData, &held)
	kept := make(map[string]json.RawMessage, len(fields))
	for k := range fields {
		if v, ok := held[k]; ok {
			kept[k] = v
		}
	}
	if v, ok := kept["payment_token"]; ok && string(v) != `""` {
		kept["payment_token"] = events.MustJSON(events.Redacted)
	}
	return requestFingerprint(def, kept)
}

// book is POST /v1/bookings.
func (s *Server) book(w http.ResponseWriter, r *http.Request, id Identity) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req bookingRequest
	if err := decodeJSON(w, r, &req, "show_id", "seats", "payment_token"); err != nil {
		return err
	}
	switch {
	case id.Role == RoleCustomer && req.UserID != "" && req.UserID != id.Subject:
		return forbidden("a customer books for themself only")
	case id.Role == RoleCustomer:
		req.UserID = id.Subject
	case req.UserID == "":
		return badRequest("a back-office booking names the customer",
			FieldError{Field: "user_id", Message: "user_id is required when back office books for a customer"})
	}
	data := events.BookingData{UserID: req.UserID, ShowID: req.ShowID, Seats: req.Seats, PaymentToken: req.PaymentToken}
	if err := data.ValidateBooking(); err != nil {
		return badRequest("the booking is not valid", fieldErrors(err, "user_id", "show_id", "seats", "payment_token")...)
	}
	def := req.Definition
	if def == "" {
		def = flows.BookTicket
	}
	if bad := checkExtra(def, req.Data); len(bad) > 0 {
		return badRequest("the booking is not valid", bad...)
	}
	if req.CallbackURL != nil {
		if err := s.checkCallback(*req.CallbackURL); err != nil {
			return err
		}
	}
	if _, err := s.db.Show(r.Context(), req.ShowID); errors.Is(err, readmodel.ErrNotFound) {
		return badRequest("the booking is not valid", FieldError{Field: "show_id", Message: fmt.Sprintf("show_id %q is not on sale", req.ShowID)})
	} else if err != nil {
		return err
	}

	book := client.BookRequest{UserID: req.UserID, ShowID: req.ShowID, Seats: req.Seats,
		PaymentToken: req.PaymentToken, IdempotencyKey: key, Actor: id.Actor(), Definition: def, Extra: req.Data}
	e, err := client.BookingRequest(book, s.now())
	if err != nil {
		return err
	}
	sagaID := events.SagaIDFor(key)
	fields := requestFields(data, req.Data)
	fp := requestFingerprint(def, fields)
	prev, seen, err := s.previous(r.Context(), sagaID, fields)
	if err != nil {
		return err
	}
	if seen && (prev.Fingerprint != fp || prev.Definition != def) {
		return conflict("this Idempotency-Key was used for another request")
	}
	// A retry of a posted booking is answered as it stands, whatever the
	// definition's version now says; a new one is checked first.
	if !seen {
		if err := s.checkDefinition(r.Context(), e, len(req.Data) > 0); err != nil {
			return err
		}
	}
	ref := events.BookingRefFor(sagaID)
	// The callback is subscribed before the request is posted, so that no
	// end of the saga can come before it.
	var callback *webhook.Subscription
	if req.CallbackURL != nil {
		sub, created, err := s.cfg.Webhooks.SubscribeBooking(r.Context(), ref, *req.CallbackURL)
		if err != nil {
			return err
		}
		if created {
			callback = &sub
		}
	}
	if !seen {
		if err := s.postEnvelope(r.Context(), e); err != nil {
			return err
		}
		s.recent.add(accepted{SagaID: sagaID, BookingRef: ref, Definition: def, UserID: req.UserID, Fingerprint: fp})
	}
	return s.answerSaga(w, r, ref, sagaID, callback)
}

// checkCallback refuses a callback URL the webhook guard does not allow.
func (s *Server) checkCallback(u string) error {
	field := func(msg string) error {
		return badRequest("the callback is not valid", FieldError{Field: "callback_url", Message: msg})
	}
	switch {
	case s.cfg.Webhooks == nil:
		return field("callback_url needs a server that sends webhooks")
	case len(u) > 2048:
		return field("callback_url must be at most 2048 characters")
	}
	if err := s.cfg.WebhookGuard.Check(u); err != nil {
		return field("callback_url: " + err.Error())
	}
	return nil
}

// previous returns what an earlier request with the same saga id asked for,
// from the read model or, when it is not projected yet, from this server's
// memory.
func (s *Server) previous(ctx context.Context, sagaID string, fields map[string]json.RawMessage) (accepted, bool, error) {
	v, err := s.db.Saga(ctx, sagaID)
	if err == nil {
		var d events.BookingData
		_ = json.Unmarshal(v.Data, &d)
		return accepted{SagaID: sagaID, BookingRef: v.BookingRef, Definition: v.Definition, UserID: d.UserID,
			Fingerprint: startedFingerprint(v.Definition, fields, v.Data)}, true, nil
	}
	if !errors.Is(err, readmodel.ErrNotFound) {
		return accepted{}, false, err
	}
	a, ok := s.recent.saga(sagaID)
	return a, ok, nil
}

// answerSaga answers a posted booking or cancellation: with Prefer: wait=N
// 201 once the saga has ended within N, else 202; the booking either way,
// at its Location.
func (s *Server) answerSaga(w http.ResponseWriter, r *http.Request, ref, sagaID string, callback *webhook.Subscription) error {
	status := http.StatusAccepted
	if d := preferWait(r, s.cfg.MaxWait); d > 0 {
		w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", int(d.Seconds())))
		done := s.ends.wait(r.Context(), sagaID, 0, d)
		if done {
			status = http.StatusCreated
		}
	}
	b, err := s.loadBooking(r.Context(), ref)
	if err != nil {
		return err
	}
	b.Callback = callback
	w.Header().Set("Location", "/v1/bookings/"+ref)
	return writeJSON(w, status, b)
}

// loadBooking reads a booking from the read models: its book-ticket saga
// with its steps, and its cancellation if there is one. A booking this
// server has posted but the read model does not hold yet is running.
func (s *Server) loadBooking(ctx context.Context, ref string) (Booking, error) {
	row, err := s.db.Booking(ctx, ref)
	sagaID := row.SagaID
	if errors.Is(err, readmodel.ErrNotFound) {
		v, err := s.db.Saga(ctx, ref)
		switch {
		case err == nil && books(v.Definition):
			sagaID = v.SagaID
		case err == nil || errors.Is(err, readmodel.ErrNotFound):
			a, ok := s.recent.ref(ref)
			if !ok || !books(a.Definition) {
				return Booking{}, notFound("no booking " + ref)
			}
			return Booking{BookingRef: ref, SagaID: a.SagaID, Status: "running", UserID: a.UserID, Steps: []projections.StepView{}}, nil
		default:
			return Booking{}, err
		}
	} else if err != nil {
		return Booking{}, err
	}
	v, err := s.db.Saga(ctx, sagaID)
	if errors.Is(err, readmodel.ErrNotFound) {
		// The bookings read model is ahead of the sagas one: answer from it.
		return Booking{BookingRef: ref, SagaID: row.SagaID, Status: row.Status, UserID: row.UserID, ShowID: row.ShowID,
			Seats: row.Seats, AmountCents: row.AmountCents, StartedAt: timePtr(row.StartedAt), UpdatedAt: timePtr(row.UpdatedAt),
			Steps: []projections.StepView{}}, nil
	}
	if err != nil {
		return Booking{}, err
	}
	var d events.BookingData
	_ = json.Unmarshal(v.Data, &d)
	b := Booking{BookingRef: ref, SagaID: v.SagaID, Status: v.Status, Reason: v.Reason, UserID: d.UserID, ShowID: d.ShowID,
		Seats: d.Seats, AmountCents: d.AmountCents, Actor: v.Actor, Definition: v.Definition, DefinitionVersion: v.DefinitionVersion, StartedAt: timePtr(v.StartedAt), UpdatedAt: timePtr(v.UpdatedAt), Steps: steps(v.Steps)}
	cancelID := row.CancelSagaID
	if cancelID == "" {
		if a, ok := s.recent.saga(events.SagaIDFor("cancel:" + ref)); ok {
			cancelID = a.SagaID
		}
	}
	if cancelID != "" {
		c := &Cancellation{SagaID: cancelID, Status: "running", Steps: []projections.StepView{}}
		if cv, err := s.db.Saga(ctx, cancelID); err == nil {
			c.Status, c.Reason, c.Steps = cv.Status, cv.Reason, steps(cv.Steps)
		} else if !errors.Is(err, readmodel.ErrNotFound) {
			return Booking{}, err
		}
		b.Cancel = c
		if c.Status == "completed" {
			b.Status = "cancelled"
		}
	}
	return b, nil
}

func steps(s []projections.StepView) []projections.StepView {
	if s == nil {
		return []projections.StepView{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ownBooking loads a booking the identity may see: a customer sees only
// their own, and another's is 404 (not 403), so a reference tells nothing.
func (s *Server) ownBooking(ctx context.Context, id Identity, ref string) (Booking, error) {
	b, err := s.loadBooking(ctx, ref)
	if err != nil {
		return b, err
	}
	if id.Role != RoleBackoffice && b.UserID != id.Subject {
		return Booking{}, notFound("no booking " + ref)
	}
	return b, nil
}

// getBooking is GET /v1/bookings/{ref}.
func (s *Server) getBooking(w http.ResponseWriter, r *http.Request, id Identity) error {
	b, err := s.ownBooking(r.Context(), id, r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// cancel is POST /v1/bookings/{ref}/cancel: a cancel-booking saga, one per
// booking (its key derives from the reference, so a repeat is the same).
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, id Identity) error {
	ref := r.PathValue("ref")
	b, err := s.ownBooking(r.Context(), id, ref)
	if err != nil {
		return err
	}
	key := "cancel:" + ref
	sagaID := events.SagaIDFor(key)
	if b.Cancel != nil {
		return s.answerSaga(w, r, ref, b.Cancel.SagaID, nil)
	}
	if b.Status != "completed" {
		return conflict(fmt.Sprintf("booking %s is %s; only completed bookings can be cancelled", ref, b.Status))
	}
	v, err := s.db.Saga(r.Context(), b.SagaID)
	if err != nil {
		return err
	}
	var d events.BookingData
	if err := json.Unmarshal(v.Data, &d); err != nil {
		return fmt.Errorf("read booking %s: %w", ref, err)
	}
	data := events.BookingData{BookingRef: ref, UserID: d.UserID, ShowID: d.ShowID, Seats: d.Seats,
		AmountCents: d.AmountCents, ChargeID: d.ChargeID}
	e, err := startRequest(flows.CancelBooking, key, ref, id.Actor(), data, s.now())
	if err != nil {
		return err
	}
	if err := s.postEnvelope(r.Context(), e); err != nil {
		return err
	}
	s.recent.add(accepted{SagaID: sagaID, BookingRef: ref, Definition: flows.CancelBooking, UserID: d.UserID})
	return s.answerSaga(w, r, ref, sagaID, nil)
}

// startRequest is the StartSaga request of a saga definition, as the
// client package builds it.
func startRequest(def, key, ref, actor string, data any, at time.Time) (events.Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Envelope{}, err
	}
	sagaID := events.SagaIDFor(key)
	p := events.StartSagaV1{Definition: def, IdempotencyKey: key, BookingRef: ref, Data: raw}
	return events.New(uuid.NewString(), events.StartSaga, p,
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: actor}, sagaID, at)
}

// myBookings is GET /v1/users/me/bookings.
func (s *Server) myBookings(w http.ResponseWriter, r *http.Request, id Identity) error {
	rows, err := s.db.UserBookings(r.Context(), id.Subject)
	if err != nil {
		return err
	}
	out := make([]BookingSummary, 0, len(rows))
	for _, b := range rows {
		out = append(out, summary(b))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"bookings": out})
}

// BookingSummary is a booking in a list.
type BookingSummary struct {
	BookingRef  string     `json:"booking_ref"`
	SagaID      string     `json:"saga_id"`
	Status      string     `json:"status"`
	ShowID      string     `json:"show_id"`
	Seats       int        `json:"seats"`
	AmountCents int64      `json:"amount_cents"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
}

func summary(b readmodel.Booking) BookingSummary {
	return BookingSummary{BookingRef: b.BookingRef, SagaID: b.SagaID, Status: b.Status, ShowID: b.ShowID, Seats: b.Seats,
		AmountCents: b.AmountCents, StartedAt: timePtr(b.StartedAt), UpdatedAt: timePtr(b.UpdatedAt)}
}
