package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/authd/authd"
)

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

// decodeJSON reads exactly one JSON object into dst. It answers the client
// itself and returns false on any problem: 415 for a non-JSON body, 413 for
// one over 64 KiB, 400 for malformed JSON or UTF-8, unknown or duplicate
// fields, wrong types or trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeProblem(w, problem{Type: problemType("unsupported-media-type"), Status: http.StatusUnsupportedMediaType,
			Detail: "The request body must be application/json."})
		return false
	}
	if r.ContentLength > maxBody {
		tooLarge(w)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		badJSON(w, err) // 413 for a MaxBytesError
		return false
	}
	// RFC 8259 §8.1: JSON between systems is UTF-8. encoding/json would
	// silently replace invalid bytes by U+FFFD, so two different passwords
	// would become one and the policy's UTF-8 check could never fire.
	if !utf8.Valid(body) {
		writeProblem(w, problem{Type: problemType("malformed-json"), Title: "Malformed JSON", Status: http.StatusBadRequest,
			Detail: "The body is not valid UTF-8."})
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		badJSON(w, err)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		badJSON(w, errors.New("unexpected data after the JSON object"))
		return false
	}
	// encoding/json keeps the last of duplicate names (matched without
	// regard to case), while other parsers keep the first: a proxy or log
	// could see one email and authd act on another. Refuse them.
	if name, dup := duplicateName(body); dup {
		writeProblem(w, problem{Type: problemType("invalid-input"), Title: "Invalid input", Status: http.StatusBadRequest,
			Detail: "The body names a field more than once.",
			Errors: []authd.FieldError{{Field: name, Reason: "duplicate", Detail: "field appears more than once"}}})
		return false
	}
	return true
}

// duplicateName reports a member name of the top-level object of body
// (already decoded without error) that occurs twice, compared as
// encoding/json matches names to fields (case-insensitively).
func duplicateName(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // '{'
		return "", false
	}
	var seen []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := t.(string)
		for _, s := range seen {
			if strings.EqualFold(s, name) {
				return s, true
			}
		}
		seen = append(seen, name)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func tooLarge(w http.ResponseWriter) {
	writeProblem(w, problem{Type: problemType("body-too-large"), Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("The request body must be at most %d bytes.", maxBody)})
}

// badJSON turns a decoding error into a 400 that names the field when it
// can, without echoing the client's data back.
func badJSON(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		tooLarge(w)
		return
	}
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	p := problem{Type: problemType("malformed-json"), Title: "Malformed JSON", Status: http.StatusBadRequest}
	switch {
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = "body"
		}
		p.Title = "Invalid input"
		p.Type = problemType("invalid-input")
		p.Detail = "A field has the wrong type."
		p.Errors = []authd.FieldError{{Field: field, Reason: "wrong_type", Detail: "must be a " + jsonKind(ute.Type.String())}}
	case errors.As(err, &se):
		p.Detail = fmt.Sprintf("The body is not valid JSON (at byte %d).", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		p.Detail = "The body is empty or truncated."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if len(name) > 64 {
			name = name[:64]
		}
		p.Title = "Invalid input"
		p.Type = problemType("invalid-input")
		p.Detail = "The body has a field this endpoint does not accept."
		p.Errors = []authd.FieldError{{Field: name, Reason: "unknown", Detail: "unknown field"}}
	default:
		p.Detail = "The body is not a valid JSON object."
	}
	writeProblem(w, p)
}

func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	}
	if strings.Contains(goType, "int") || strings.Contains(goType, "float") {
		return "number"
	}
	return "JSON object"
}
