#!/usr/bin/env bash
# Builds, once, the third-party OpenID Connect clients that the tests in
# internal/e2e run against authd (oidc_test.go), into a cache that later
# runs reuse:
#   - oauth2-proxy, built from the Go module proxy with `go install
#     pkg@version` (outside authd's module: it never enters go.mod);
#   - the npm package openid-client (v6), with `npm install --prefix`.
# It prints the variables the tests read, as export lines, so
#   eval "$(bash scripts/oidc-tools.sh)"
# makes them available to `go test`; it also writes them to $cache/env,
# which the tests read when the variables are unset. Progress goes to
# stderr.
#
# Cache: ${AUTHD_TOOLS_CACHE:-$HOME/.cache/authd-tools}, one folder per
# tool version (a version bump here builds anew; old folders can be
# deleted by hand).
set -euo pipefail

OAUTH2_PROXY_VERSION=v7.15.6
OPENID_CLIENT_VERSION=6.8.9

cache="${AUTHD_TOOLS_CACHE:-$HOME/.cache/authd-tools}"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
log() { printf '%s\n' "oidc-tools: $*" >&2; }

# oauth2-proxy: a Go program, built from source with the toolchain here.
proxy_dir="$cache/oauth2-proxy-$OAUTH2_PROXY_VERSION"
proxy_bin="$proxy_dir/bin/oauth2-proxy"
if [ -x "$proxy_bin" ]; then
  log "oauth2-proxy $OAUTH2_PROXY_VERSION: $proxy_bin (cached)"
else
  command -v go >/dev/null || { log "go is not installed"; exit 1; }
  log "building oauth2-proxy $OAUTH2_PROXY_VERSION (a few minutes on two cores)…"
  start=$(date +%s)
  # From the cache folder, so no go.mod around applies; go install
  # pkg@version ignores the current module anyway.
  (cd "$cache" && GOBIN="$proxy_dir/bin.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -ldflags "-X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$OAUTH2_PROXY_VERSION" \
    "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION")
  rm -rf "$proxy_dir/bin"
  mv "$proxy_dir/bin.tmp" "$proxy_dir/bin"
  log "built oauth2-proxy in $(( $(date +%s) - start )) s: $proxy_bin"
fi

# openid-client: an ES module for Node.js (20 or newer).
node_dir="$cache/openid-client-$OPENID_CLIENT_VERSION"
node_modules="$node_dir/node_modules"
if [ -f "$node_modules/openid-client/package.json" ]; then
  log "openid-client $OPENID_CLIENT_VERSION: $node_modules (cached)"
else
  command -v npm >/dev/null || { log "npm is not installed"; exit 1; }
  log "installing openid-client $OPENID_CLIENT_VERSION…"
  start=$(date +%s)
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-audit --no-fund --no-save --loglevel=error \
    "openid-client@$OPENID_CLIENT_VERSION" >&2
  log "installed openid-client in $(( $(date +%s) - start )) s: $node_modules"
fi

env_lines=$(printf 'export AUTHD_TEST_OAUTH2_PROXY=%q\nexport AUTHD_TEST_OPENID_CLIENT=%q' "$proxy_bin" "$node_modules")
printf '%s\n' "$env_lines" >"$cache/env"
printf '%s\n' "$env_lines"
