// Package ui is the back office: server-rendered pages under /ui/ of the
// API's listener, for back-office identities only. It reads the read
// model directly and acts (retry, cancel, redrive) through the API's own
// handlers, so an action from a page is the same request, checked and
// recorded with the same actor, as one from the JSON API.
package ui

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/readmodel"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// CookieName is the cookie that keeps the signed-in token.
const CookieName = "saga_ui_token"

// csp allows nothing from elsewhere and no inline script or style.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Verifier checks a token; *api.Verifier is one.
type Verifier interface {
	Verify(token string) (api.Identity, error)
}

// Config is what the back office needs.
type Config struct {
	// API is the JSON API the pages act through (an *api.Server).
	API http.Handler
	// Verifier checks the token of the sign-in cookie.
	Verifier  Verifier
	ReadModel *readmodel.DB
	// Namespace is the bus namespace, for the dead letters.
	Namespace string
	// Bus is asked how far the logs go (reconcile, projections' lag).
	Bus bus.Config
	// Definitions are drawn on a saga's page when Catalogue lacks the
	// version it runs (or is nil).
	Definitions saga.Definitions
	// Catalogue holds every published version: a saga's page draws the
	// one the saga runs, the search lists their names.
	Catalogue *catalogue.Cache
	// Secure marks the cookie Secure (the listener serves TLS).
	Secure bool
	Log    zerolog.Logger
}

// Validate reports every missing part at once.
func (c Config) Validate() error {
	var errs []error
	if c.API == nil {
		errs = append(errs, errors.New("ui: the API handler is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("ui: a token verifier is required"))
	}
	if c.ReadModel == nil {
		errs = append(errs, errors.New("ui: a read model is required"))
	}
	return errors.Join(errs...)
}

// Handler serves /ui/.
type Handler struct {
	cfg  Config
	mux  *http.ServeMux
	tmpl map[string]*template.Template
	// csrfKey keys the CSRF tokens: an HMAC of the session's token.
	csrfKey []byte
	now     func() time.Time
	stats   *sampler
}

// Mounter is where the pages are mounted; *api.Server is one.
type Mounter interface {
	Handle(pattern string, h http.Handler)
}

// Mount builds the back office and mounts it at /ui/ of m.
func Mount(m Mounter, cfg Config) (*Handler, error) {
	h, err := New(cfg)
	if err != nil {
		return nil, err
	}
	m.Handle("/ui/", h)
	return h, nil
}

// New builds the back office.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), csrfKey: key, now: time.Now, tmpl: map[string]*template.Template{}}
	h.stats = newSampler(cfg.ReadModel, cfg.Bus)
	funcs := template.FuncMap{"ago": ago, "ts": ts, "dur": dur, "short": short, "trunc": trunc}
	for _, page := range []string{"signin", "sagas", "saga", "dlq", "overview", "denied", "reconcile", "projections", "definitions"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		h.tmpl[page] = t
	}
	assets, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.FileServerFS(assets)))
	h.mux.HandleFunc("GET /ui/signin", h.signinPage)
	h.mux.HandleFunc("POST /ui/signin", h.signin)
	h.mux.HandleFunc("POST /ui/signout", h.staff(h.signout))
	h.mux.HandleFunc("GET /ui/{$}", h.staff(h.overview))
	h.mux.HandleFunc("GET /ui/stream", h.staff(h.stream))
	h.mux.HandleFunc("GET /ui/sagas", h.staff(h.sagas))
	h.mux.HandleFunc("GET /ui/sagas/{id}", h.staff(h.saga))
	h.mux.HandleFunc("POST /ui/sagas/{id}/retry", h.staff(h.retry))
	h.mux.HandleFunc("POST /ui/sagas/{id}/cancel", h.staff(h.cancel))
	h.mux.HandleFunc("GET /ui/dlq", h.staff(h.dlq))
	h.mux.HandleFunc("POST /ui/dlq/{id}/redrive", h.staff(h.redrive))
	h.mux.HandleFunc("POST /ui/webhooks/{sub}/deliveries/{id}/redeliver", h.staff(h.redeliver))
	h.mux.HandleFunc("GET /ui/reconcile", h.staff(h.reconcile))
	h.mux.HandleFunc("GET /ui/projections", h.staff(h.projectionsPage))
	h.mux.HandleFunc("GET /ui/definitions", h.staff(h.definitionsPage))
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page", http.StatusNotFound)
	})
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// session is a signed-in back-office request.
type session struct {
	id    api.Identity
	token string
	csrf  string
}

// staffFunc is a page or action of a signed-in back-office member.
type staffFunc func(w http.ResponseWriter, r *http.Request, s session)

// staff admits back-office identities only: no token goes to the sign-in
// page, a customer's is 403, and every POST must carry the session's
// CSRF token.
func (h *Handler) staff(f staffFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/signin?next="+template.URLQueryEscaper(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if s.id.Role != api.RoleBackoffice {
			w.WriteHeader(http.StatusForbidden)
			h.render(w, r, "denied", s, map[string]any{"Subject": s.id.Subject, "Role": s.id.Role})
			return
		}
		if r.Method == http.MethodPost {
			if r.ParseForm() != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "the form's CSRF token is missing or stale: reload the page", http.StatusForbidden)
				return
			}
		}
		f(w, r, s)
	}
}

// session reads the identity: a bearer token the API verified, or the
// sign-in cookie.
func (h *Handler) session(r *http.Request) (session, bool) {
	id := api.IdentityFrom(r.Context())
	tok := ""
	if !id.Anonymous() {
		_, tok, _ = strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
	} else if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		v, err := h.cfg.Verifier.Verify(c.Value)
		if err != nil {
			return session{}, false
		}
		id, tok = v, c.Value
	} else {
		return session{}, false
	}
	return session{id: id, token: tok, csrf: h.csrfFor(tok)}, true
}

func (h *Handler) csrfFor(token string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	Who   string
	CSRF  string
	Data  any
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, name string, s session, data any) {
	var buf bytes.Buffer
	p := page{Title: name, Nav: name, Who: s.id.Subject, CSRF: s.csrf, Data: data}
	if err := h.tmpl[name].Execute(&buf, p); err != nil {
		h.cfg.Log.Error().Err(err).Str("page", name).Msg("ui page failed")
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// fail draws an error page for a read that went wrong.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Log.Error().Err(err).Str("path", r.URL.Path).Msg("ui read failed")
	http.Error(w, "the read model could not answer", http.StatusInternalServerError)
}

// outcome is an action's answer from the API: ok, or a message to show
// inline.
type outcome struct {
	Status  int
	Message string
	// Body is the API's answer.
	Body []byte
}

// act sends one request to the JSON API as the session's identity, in
// process, and reads its answer.
func (h *Handler) act(ctx context.Context, s session, method, path string, body any) outcome {
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return outcome{Status: 500, Message: err.Error()}
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.cfg.API.ServeHTTP(rec, req)
	o := outcome{Status: rec.Code, Body: rec.Body.Bytes()}
	if rec.Code >= 300 {
		var p api.Problem
		if json.Unmarshal(rec.Body.Bytes(), &p) == nil && p.Title != "" {
			o.Message = p.Title
			if p.Detail != "" {
				o.Message += ": " + p.Detail
			}
			for _, f := range p.Errors {
				o.Message += "; " + f.Message
			}
		} else {
			o.Message = fmt.Sprintf("the API answered %d", rec.Code)
		}
	}
	return o
}

// flash redirects after an action (POST, redirect, GET), carrying its
// message in the query, signed so that a link made elsewhere cannot put
// words on a page.
func (h *Handler) flash(w http.ResponseWriter, r *http.Request, to string, o outcome, okMsg string) {
	k, msg := "ok", okMsg
	if o.Message != "" {
		k, msg = "err", o.Message
	}
	q := url.Values{k: {msg}, "sig": {h.sign(k + "\x00" + msg)}}
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, to+sep+q.Encode(), http.StatusSeeOther)
}

// flashed is the message flash put in the request's query, if its
// signature holds.
func (h *Handler) flashed(r *http.Request) (ok, errMsg string) {
	q := r.URL.Query()
	for _, k := range []string{"ok", "err"} {
		if v := q.Get(k); v != "" && hmac.Equal([]byte(q.Get("sig")), []byte(h.sign(k+"\x00"+v))) {
			if k == "ok" {
				return v, ""
			}
			return "", v
		}
	}
	return "", ""
}

func (h *Handler) sign(s string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte("flash\x00" + s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return dur(time.Since(t)) + " ago"
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// trunc shortens a reason to fit a box of the graph.
func trunc(s string) string {
	r := []rune(s)
	if len(r) > 24 {
		return string(r[:23]) + "…"
	}
	return s
}
