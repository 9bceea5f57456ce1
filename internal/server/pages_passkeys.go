package server

import "net/http"

// passkeyView is one passkey on the account page.
type passkeyView struct {
	ID, Name, Kind     string
	CreatedS, LastUsed string
}

// fillPasskeys lists the user's passkeys on the account page.
func (s *Server) fillPasskeys(r *http.Request, userID string, d *pageData) error { return nil }

func (s *Server) passkeyPageRoutes(m *http.ServeMux) {}
