// Package authd holds the vocabulary shared by authd's packages: the
// sentinel errors every store and service returns, and the validation and
// throttling error types. It depends on the standard library only, so any
// package (including resource servers) can import it.
package authd

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Stores and services wrap them with %w so callers can use
// errors.Is; internal/server maps them to HTTP status codes in one table.
var (
	// ErrNotFound: the thing does not exist, has expired or was revoked.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique value (an email, an ID) is already taken.
	ErrConflict = errors.New("already exists")
	// ErrUnauthenticated: credentials are missing or wrong.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrUnavailable: a store or dependency cannot be reached; callers must
	// fail closed (HTTP 503), never treat it as success.
	ErrUnavailable = errors.New("service unavailable")
	// ErrTokenReused: a rotated refresh token was presented again.
	ErrTokenReused = errors.New("refresh token reused")
)

// FieldError is one problem with one input field.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"` // machine-readable: "required", "invalid", "too_short", ...
	Detail string `json:"detail"` // a sentence for people
}

// ValidationError reports invalid client input. It maps to HTTP 400.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Fields) == 0 {
		return "invalid input"
	}
	return fmt.Sprintf("invalid input: %s: %s", e.Fields[0].Field, e.Fields[0].Detail)
}

// Invalid returns a ValidationError for a single field.
func Invalid(field, reason, detail string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Reason: reason, Detail: detail}}}
}

// ThrottledError reports that a caller must wait before trying again.
// It maps to HTTP 429 with Retry-After.
type ThrottledError struct {
	RetryAfter time.Duration
}

// Seconds is RetryAfter in whole seconds, at least 1: the value of a
// Retry-After header (RFC 9110 §10.2.3).
func (e *ThrottledError) Seconds() int {
	return max(int(e.RetryAfter.Round(time.Second)/time.Second), 1)
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts; retry after %s", e.RetryAfter.Round(time.Second))
}
