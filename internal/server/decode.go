package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/authd/authd"
)

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

// decodeJSON reads exactly one JSON object into dst. It answers the client
// itself and returns false on any problem: 415 for a non-JSON body, 413 for
// one over 64 KiB, 400 for malformed JSON, unknown fields, wrong types or
// trailing data.
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
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		badJSON(w, err)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge(w)
			return false
		}
		badJSON(w, errors.New("unexpected data after the JSON object"))
		return false
	}
	return true
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
