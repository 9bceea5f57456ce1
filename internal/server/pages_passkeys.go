package server

import (
	"encoding/base64"
	"net/http"
)

// The account page's passkeys: the list (name, kind, created, last used),
// a rename form and a remove button per passkey, and an "Add a passkey"
// button that web/static/passkeys.js drives through the JSON API
// (navigator.credentials.create has no form equivalent). Without
// JavaScript the list, renaming and removing still work.

// passkeyView is one passkey on the account page.
type passkeyView struct {
	ID, Name, Kind     string
	CreatedS, LastUsed string
}

// fillPasskeys lists the user's passkeys on the account page.
func (s *Server) fillPasskeys(r *http.Request, userID string, d *pageData) error {
	if s.cfg.Passkeys == nil || d.MFA == nil {
		return nil
	}
	d.MFA.PasskeysOn = true
	list, err := s.cfg.MFA.Store().Credentials(r.Context(), userID)
	if err != nil {
		return err
	}
	d.MFA.Passkeys = d.MFA.Passkeys[:0]
	for _, c := range list {
		v := passkeyView{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name,
			Kind: "On this device only", CreatedS: c.CreatedAt.UTC().Format("2 Jan 2006, 15:04 UTC"), LastUsed: "Never"}
		if c.BackupEligible {
			v.Kind = "Synced passkey"
		}
		if !c.LastUsedAt.IsZero() {
			v.LastUsed = c.LastUsedAt.UTC().Format("2 Jan 2006, 15:04 UTC")
		}
		d.MFA.Passkeys = append(d.MFA.Passkeys, v)
	}
	return nil
}

func (s *Server) pageRenamePasskeyPost(w http.ResponseWriter, r *http.Request) {
	s.accountAction(w, r, func(c *caller, d *pageData) error {
		if _, err := s.renamePasskey(r.Context(), c, r.PathValue("id"), r.PostFormValue("name")); err != nil {
			return err
		}
		d.Notice = "The passkey was renamed."
		return nil
	})
}

func (s *Server) pageDeletePasskeyPost(w http.ResponseWriter, r *http.Request) {
	s.accountAction(w, r, func(c *caller, d *pageData) error {
		if err := s.deletePasskey(r.Context(), c, r.PathValue("id")); err != nil {
			return err
		}
		d.Notice = "The passkey was removed. Your other devices were signed out."
		return nil
	})
}

func (s *Server) passkeyPageRoutes(m *http.ServeMux) {
	if s.cfg.Passkeys == nil {
		return
	}
	m.HandleFunc("POST /account/passkeys/{id}/rename", s.pageRenamePasskeyPost)
	m.HandleFunc("POST /account/passkeys/{id}/delete", s.pageDeletePasskeyPost)
}
