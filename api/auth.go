package api

import (
	"net/http"
	"strings"
)

// authenticate reads the bearer token of r, if any. No Authorization
// header is an anonymous request; a header that does not carry a valid
// token is refused (401), whatever the route, so a client learns at once
// that its token is bad.
func (s *Server) authenticate(r *http.Request) (Identity, *Problem) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{Role: RoleAnonymous}, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Identity{}, unauthorized("the Authorization header must be Bearer and a token")
	}
	id, err := s.cfg.Verifier.Verify(strings.TrimSpace(token))
	if err != nil {
		return Identity{}, unauthorized(err.Error())
	}
	return id, nil
}
