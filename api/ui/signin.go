package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/sagaflow/saga/api"
)

// signinCookie holds the sign-in form's CSRF token (double submit): no
// session exists yet to derive one from.
const signinCookie = "saga_ui_signin"

// signinPage is GET /ui/signin: a form that takes a token.
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	h.signinForm(w, r, http.StatusOK, "")
}

func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: tok, Path: "/ui/", HttpOnly: true, Secure: h.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: 600})
	w.WriteHeader(status)
	h.render(w, r, "signin", session{csrf: tok}, map[string]any{"Next": safeNext(r.FormValue("next")), "Error": msg})
}

// signin is POST /ui/signin: the token is checked and kept in an HttpOnly
// cookie; a customer's token is refused here already.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.signinForm(w, r, http.StatusBadRequest, "the form could not be read")
		return
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		h.signinForm(w, r, http.StatusForbidden, "the sign-in form was stale: try again")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok == "" {
		h.signinForm(w, r, http.StatusBadRequest, "paste a token (saga token issue --sub NAME --role backoffice issues one)")
		return
	}
	id, err := h.cfg.Verifier.Verify(tok)
	if err != nil {
		h.signinForm(w, r, http.StatusUnauthorized, "the token is not valid: "+err.Error())
		return
	}
	if id.Role != api.RoleBackoffice {
		h.signinForm(w, r, http.StatusForbidden, "the back office is for back-office identities; this token is "+string(id.Role)+" "+id.Subject)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/ui/", HttpOnly: true, Secure: h.cfg.Secure,
		SameSite: http.SameSiteStrictMode, Expires: h.now().Add(12 * time.Hour)})
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Path: "/ui/", MaxAge: -1})
	h.cfg.Log.Info().Str("actor", id.Actor()).Msg("back office: signed in")
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// signout is POST /ui/signout.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, _ session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/ui/", MaxAge: -1, HttpOnly: true, Secure: h.cfg.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in on the back office.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}
