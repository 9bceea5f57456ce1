// Package e2e holds end-to-end tests that run real authd processes with
// real neighbours: nginx in front (forward auth), and several instances
// sharing PostgreSQL and Redis. It has no non-test code.
package e2e
