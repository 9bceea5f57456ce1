// Package e2e holds end-to-end tests that run real authd processes with
// real neighbours: nginx and Caddy in front (forward auth), several
// instances sharing PostgreSQL and Redis (standalone, Cluster, Sentinel),
// a guard following the revocation feed, and real outages of PostgreSQL and
// Redis. It has no non-test code.
package e2e
