// Package wire is what authd and the services it protects say to each
// other: the session cookie's name and the revocation feed (GET
// /v1/revocations), its event types and their Server-Sent Events encoding.
// authd's server writes it and package guard reads it, from this one
// definition. It uses the standard library only.
package wire

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SessionCookie is the name of authd's session cookie. The __Host- prefix
// makes browsers refuse it unless it is Secure, has Path=/ and no Domain,
// so no sibling subdomain can set or shadow it (ASVS 5.0 3.3.1).
const SessionCookie = "__Host-authd_session"

// FeedPath is the revocation feed's path on authd.
const FeedPath = "/v1/revocations"

// The feed's event names.
const (
	// EventRevoked carries a SessionRevoked; its id is the cursor.
	EventRevoked = "revoked"
	// EventKeyRevoked carries a KeyRevoked. It has no id: it does not move
	// the cursor, and every connection's backlog repeats the keys revoked
	// recently enough to matter.
	EventKeyRevoked = "key-revoked"
	// EventReady says the backlog is complete: from here on the stream is
	// live, and a follower may vouch for its revocation set.
	EventReady = "ready"
)

// SessionRevoked is one revoked session: refuse its access tokens until
// Until.
type SessionRevoked struct {
	SessionID string `json:"sid"`
	RevokedAt int64  `json:"revoked_at"` // Unix microseconds; also the event id (the cursor)
	Until     int64  `json:"until"`      // Unix seconds
}

// KeyRevoked is one withdrawn signing key: refuse every token it signed.
type KeyRevoked struct {
	KID       string `json:"kid"`
	RevokedAt int64  `json:"revoked_at"` // Unix microseconds
}

// Message is one Server-Sent Event. A message with neither Event nor Data
// is a heartbeat.
type Message struct {
	ID    string
	Event string
	Data  string
}

// Write encodes m. Data must be one line (JSON without newlines is).
func Write(w io.Writer, m Message) error {
	if strings.ContainsAny(m.ID+m.Event+m.Data, "\r\n") {
		return errors.New("wire: a message field contains a line break")
	}
	var b strings.Builder
	if m.ID != "" {
		b.WriteString("id: " + m.ID + "\n")
	}
	if m.Event != "" {
		b.WriteString("event: " + m.Event + "\n")
	}
	b.WriteString("data: " + m.Data + "\n\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHeartbeat writes a comment that keeps the stream alive.
func WriteHeartbeat(w io.Writer) error {
	_, err := io.WriteString(w, ": ping\n\n")
	return err
}

// Revoked returns the message announcing e.
func Revoked(e SessionRevoked) Message {
	b, _ := json.Marshal(e) // a struct of strings and integers always encodes
	return Message{ID: fmt.Sprint(e.RevokedAt), Event: EventRevoked, Data: string(b)}
}

// KeyRevokedMessage returns the message announcing e.
func KeyRevokedMessage(e KeyRevoked) Message {
	b, _ := json.Marshal(e)
	return Message{Event: EventKeyRevoked, Data: string(b)}
}

// Ready is the message that ends the backlog.
var Ready = Message{Event: EventReady, Data: "{}"}

// ErrMalformed means an event's data does not decode to its type.
var ErrMalformed = errors.New("wire: malformed feed event")

// Decode decodes the data of a revoked or key-revoked message into v
// (*SessionRevoked or *KeyRevoked), refusing one without its key field.
func Decode(m Message, v any) error {
	if err := json.Unmarshal([]byte(m.Data), v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, m.Event, err)
	}
	switch e := v.(type) {
	case *SessionRevoked:
		if e.SessionID == "" {
			return fmt.Errorf("%w: %s without sid", ErrMalformed, m.Event)
		}
	case *KeyRevoked:
		if e.KID == "" {
			return fmt.Errorf("%w: %s without kid", ErrMalformed, m.Event)
		}
	}
	return nil
}

// Reader reads messages from a stream.
type Reader struct {
	sc *bufio.Scanner
}

// maxLine bounds one line of the stream.
const maxLine = 64 << 10

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	return &Reader{sc: sc}
}

// Next returns the next message (heartbeats included: a message is ended
// by a blank line), or the stream's error; io.EOF when it ended cleanly.
func (r *Reader) Next() (Message, error) {
	var m Message
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			return m, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			m.ID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			m.Event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			m.Data = strings.TrimSpace(line[5:])
		}
	}
	if err := r.sc.Err(); err != nil {
		return m, err
	}
	return m, io.EOF
}
