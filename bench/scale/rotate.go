package main

import (
	"context"

	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
)

// Everything this program uses of the refresh-token API is here: the
// high-level Refresher, making the same calls as /oauth2/token.

// refreshStore is what the stores must offer for rotation.
type refreshStore = refresh.Store

type rotator struct{ r *refresh.Refresher }

func newRotator(st refreshStore, sessions *session.Manager) rotator {
	return rotator{refresh.New(refresh.Config{Store: st, Sessions: sessions})}
}

// start opens a token session for userID and returns its first refresh token.
func (r rotator) start(ctx context.Context, userID string) (string, error) {
	g, err := r.r.Start(ctx, userID, "authd", "read write", session.Meta{IP: "192.0.2.1", UserAgent: "scale/1.0"})
	if err != nil {
		return "", err
	}
	return g.Token, nil
}

// rotate redeems tok and returns its child.
func (r rotator) rotate(ctx context.Context, tok string) (string, error) {
	g, err := r.r.Rotate(ctx, refresh.Request{Token: tok, ClientID: "authd"})
	if err != nil {
		return "", err
	}
	return g.Token, nil
}
