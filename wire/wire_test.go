package wire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/authd/authd/wire"
	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	sent := []wire.Message{
		wire.KeyRevokedMessage(wire.KeyRevoked{KID: "k1", RevokedAt: 7}),
		wire.Revoked(wire.SessionRevoked{SessionID: "S1", RevokedAt: 1700000000123456, Until: 1700000600}),
		wire.Ready,
	}
	for _, m := range sent {
		if err := wire.Write(&buf, m); err != nil {
			t.Fatal(err)
		}
		wire.WriteHeartbeat(&buf)
	}
	r := wire.NewReader(&buf)
	var got []wire.Message
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m != (wire.Message{}) {
			got = append(got, m)
		}
	}
	if d := cmp.Diff(sent, got); d != "" {
		t.Errorf("read back (-sent +got):\n%s", d)
	}
	var sr wire.SessionRevoked
	if err := wire.Decode(got[1], &sr); err != nil || sr.SessionID != "S1" || got[1].ID != "1700000000123456" {
		t.Errorf("Decode = %+v, %v; id %q", sr, err, got[1].ID)
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		data string
		v    any
	}{
		{"not JSON", "{", &wire.SessionRevoked{}},
		{"no sid", `{"revoked_at":1}`, &wire.SessionRevoked{}},
		{"no kid", `{"revoked_at":1}`, &wire.KeyRevoked{}},
		{"wrong type", `{"sid":1}`, &wire.SessionRevoked{}},
	}
	for _, tt := range tests {
		if err := wire.Decode(wire.Message{Event: "x", Data: tt.data}, tt.v); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", tt.name, err)
		}
	}
}

func TestWriteRefusesLineBreaks(t *testing.T) {
	if err := wire.Write(io.Discard, wire.Message{Event: "revoked", Data: "a\nid: 99"}); err == nil {
		t.Error("Write accepted data with a line break (event injection)")
	}
}

func TestReaderLongLine(t *testing.T) {
	r := wire.NewReader(strings.NewReader("data: " + strings.Repeat("x", 70<<10) + "\n\n"))
	if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("a 70 KiB line: err = %v, want a scanner error", err)
	}
}
