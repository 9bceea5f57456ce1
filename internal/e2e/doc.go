// Package e2e holds end-to-end tests that run real authd processes with
// real neighbours: nginx and Caddy in front (forward auth), several
// instances sharing PostgreSQL and Redis (standalone, Cluster, Sentinel),
// a guard following the revocation feed, real outages of PostgreSQL and
// Redis, and OpenID Connect clients nobody here wrote (examples/webapp on
// go-oidc, oauth2-proxy, the npm package openid-client) signing a user in
// through Chromium (scripts/oidc-tools.sh builds the tools once). It has no
// non-test code.
package e2e
