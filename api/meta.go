package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the contract of the API (OpenAPI 3.1), committed
// beside the code and checked against the routes by a test.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI document.
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

func (s *Server) health(w http.ResponseWriter, _ *http.Request, _ Identity) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ Identity) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
	return nil
}

// jwks serves the embedded issuer's public keys; a server that trusts an
// external provider has none of its own (the set is empty).
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request, _ Identity) error {
	body := []byte(`{"keys":[]}`)
	if s.cfg.Issuer != nil {
		raw, err := s.cfg.Issuer.JWKS()
		if err != nil {
			return err
		}
		body = raw
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
	return nil
}
