package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// signupTokenTTL is how long the customer token of a finished sign-up
// lasts (embedded issuer only).
const signupTokenTTL = 24 * time.Hour

// signupRequest is the body of POST /v1/users; PUT /v1/users/me takes the
// same without user_id, which is the token's subject.
type signupRequest struct {
	UserID string `json:"user_id,omitempty"`
	Name   string `json:"name"`
	Phone  string `json:"phone"`
}

// Signup is a sign-up as the API shows it, at /v1/signups/{id}. Each
// sign-up is its own resource, so a refused duplicate keeps its reason
// while the user it collided with is untouched.
type Signup struct {
	SignupID string                 `json:"signup_id"`
	UserID   string                 `json:"user_id"`
	Status   string                 `json:"status"`
	Reason   string                 `json:"reason,omitempty"`
	Steps    []projections.StepView `json:"steps"`
	// Token is a customer token for the new user, once the sign-up has
	// completed, when this server is the identity provider.
	Token string `json:"token,omitempty"`
}

// signUp is POST /v1/users: anyone may ask for an account; the
// user-signup saga decides whether the id is free and the phone valid.
func (s *Server) signUp(w http.ResponseWriter, r *http.Request, id Identity) error {
	if id.Anonymous() {
		if p := s.signups.allow(limitKey(r, id)); p != nil {
			return p
		}
	}
	var req signupRequest
	if err := decodeJSON(w, r, &req, "user_id", "name", "phone"); err != nil {
		return err
	}
	return s.startSignup(w, r, events.UserData{UserID: req.UserID, Name: req.Name, Phone: req.Phone}, "anonymous")
}

// registerMe is PUT /v1/users/me: a user who signed in at an identity
// provider registers their profile under the token's subject.
func (s *Server) registerMe(w http.ResponseWriter, r *http.Request, id Identity) error {
	var req signupRequest
	if err := decodeJSON(w, r, &req, "name", "phone"); err != nil {
		return err
	}
	if req.UserID != "" && req.UserID != id.Subject {
		return forbidden("a profile is registered under the token's subject only")
	}
	return s.startSignup(w, r, events.UserData{UserID: id.Subject, Name: req.Name, Phone: req.Phone}, id.Actor())
}

func (s *Server) startSignup(w http.ResponseWriter, r *http.Request, d events.UserData, actor string) error {
	if err := d.ValidateShape(); err != nil {
		return badRequest("the sign-up is not valid", fieldErrors(err, "user_id", "name", "phone")...)
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	fp := signupFingerprint(d)
	sagaID := events.SagaIDFor("signup:" + key)
	if err := s.sameSignup(r.Context(), sagaID, fp); err != nil {
		return err
	}
	var rec client.Receipt
	err = s.withTimeout(r.Context(), func(ctx context.Context) error {
		rec, err = s.client.SignUp(ctx, d, key, actor)
		return err
	})
	if err != nil {
		return err
	}
	s.recent.add(accepted{SagaID: rec.SagaID, BookingRef: "signup:" + rec.SagaID, Definition: flows.UserSignup, UserID: d.UserID, Fingerprint: fp})
	status := http.StatusAccepted
	if wait := preferWait(r, s.cfg.MaxWait); wait > 0 {
		w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", int(wait.Seconds())))
		done := s.ends.wait(r.Context(), rec.SagaID, 0, wait)
		if done {
			status = http.StatusOK
		}
	}
	v, err := s.loadSignup(r, rec.SagaID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/signups/"+rec.SagaID)
	return writeJSON(w, status, v)
}

// signupFingerprint is what a repeated Idempotency-Key must repeat.
func signupFingerprint(d events.UserData) string {
	return events.RequestFingerprint(flows.UserSignup, events.MustJSON(events.UserData{UserID: d.UserID, Name: d.Name, Phone: d.Phone}))
}

// sameSignup refuses, as 409, an Idempotency-Key used before for another
// request; a repeat of the same sign-up starts nothing new.
func (s *Server) sameSignup(ctx context.Context, sagaID, fp string) error {
	prev, found := accepted{}, false
	v, err := s.db.Saga(ctx, sagaID)
	switch {
	case err == nil:
		var d events.UserData
		_ = json.Unmarshal(v.Data, &d)
		prev, found = accepted{Definition: v.Definition, Fingerprint: signupFingerprint(d)}, true
	case errors.Is(err, readmodel.ErrNotFound):
		prev, found = s.recent.saga(sagaID)
	default:
		return err
	}
	if found && (prev.Definition != flows.UserSignup || prev.Fingerprint != fp) {
		return conflict("this Idempotency-Key was used for another request")
	}
	return nil
}

// getSignup is GET /v1/signups/{id}. Its id is the unguessable saga id
// the sign-up's answer gave, so it is the capability to read the result.
func (s *Server) getSignup(w http.ResponseWriter, r *http.Request, _ Identity) error {
	v, err := s.loadSignup(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) loadSignup(r *http.Request, sagaID string) (Signup, error) {
	v, err := s.db.Saga(r.Context(), sagaID)
	if errors.Is(err, readmodel.ErrNotFound) || (err == nil && v.Definition != flows.UserSignup) {
		if a, ok := s.recent.saga(sagaID); ok && a.Definition == flows.UserSignup {
			return Signup{SignupID: sagaID, UserID: a.UserID, Status: "running", Steps: []projections.StepView{}}, nil
		}
		return Signup{}, notFound("no sign-up " + sagaID)
	}
	if err != nil {
		return Signup{}, err
	}
	out := Signup{SignupID: v.SagaID, UserID: v.BookingRef, Status: v.Status, Reason: v.Reason, Steps: steps(v.Steps)}
	if v.Status == "completed" && s.cfg.Issuer != nil {
		if out.Token, err = s.cfg.Issuer.Issue(out.UserID, RoleCustomer, signupTokenTTL); err != nil {
			return Signup{}, err
		}
	}
	return out, nil
}

// block is POST /v1/users/{id}/block.
func (s *Server) block(w http.ResponseWriter, r *http.Request, id Identity) error {
	return s.setBlocked(w, r, id, true)
}

// unblock is POST /v1/users/{id}/unblock.
func (s *Server) unblock(w http.ResponseWriter, r *http.Request, id Identity) error {
	return s.setBlocked(w, r, id, false)
}

// setBlocked posts a block-user or unblock-user saga: the user service
// records it in its log, and VerifyUser answers from it. It answers like
// a retry: 202, or 200 once it has ended within Prefer: wait=N, with the
// saga at /v1/sagas/{id}.
func (s *Server) setBlocked(w http.ResponseWriter, r *http.Request, id Identity, blocked bool) error {
	userID := r.PathValue("id")
	if err := (events.UserData{UserID: userID}).ValidateID(); err != nil {
		return badRequest("the user id is not valid", FieldError{Field: "id", Message: err.Error()})
	}
	var rec client.Receipt
	err := s.withTimeout(r.Context(), func(ctx context.Context) error {
		var err error
		rec, err = s.client.SetBlocked(ctx, userID, blocked, id.Actor())
		return err
	})
	if err != nil {
		return err
	}
	def := flows.Unblock
	if blocked {
		def = flows.BlockUser
	}
	status := http.StatusAccepted
	v := projections.SagaView{SagaID: rec.SagaID, BookingRef: userID, Definition: def, Status: "running",
		Actor: id.Actor(), Steps: []projections.StepView{}}
	if wait := preferWait(r, s.cfg.MaxWait); wait > 0 {
		w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", int(wait.Seconds())))
		done := s.ends.wait(r.Context(), rec.SagaID, 0, wait)
		if done {
			if v, err = s.db.Saga(r.Context(), rec.SagaID); err != nil {
				return err
			}
			status = http.StatusOK
		}
	}
	w.Header().Set("Location", "/v1/sagas/"+rec.SagaID)
	return writeJSON(w, status, v)
}
