#!/usr/bin/env bash
# Mailpit, the SMTP server the mail tests send to (mail/mailpit): built
# once from the Go module proxy with `go install pkg@version` (outside
# authd's module: it never enters go.mod) into a cache that later runs
# reuse, and optionally started on loopback ports.
#
#   bash scripts/mailpit.sh              # build if needed; print AUTHD_TEST_MAILPIT_BIN
#   bash scripts/mailpit.sh start PORT   # and run one: SMTP on 127.0.0.1:PORT,
#                                        # HTTP API on 127.0.0.1:PORT+1 (reused if running)
#   bash scripts/mailpit.sh stop PORT
#
# It prints the variables the tests read, as export lines, so
#   eval "$(bash scripts/mailpit.sh start 1025)"
# makes them available to `go test`:
#   AUTHD_TEST_MAILPIT_BIN  the binary; tests start private servers of
#                           their own from it (which they can stop and
#                           restart);
#   AUTHD_TEST_MAILPIT      (start only) the shared server's SMTP address;
#                           its HTTP API is on the next port.
# Progress goes to stderr. The server accepts any SMTP login, or none, in
# clear text: it is for tests on loopback only.
#
# Cache: ${AUTHD_TOOLS_CACHE:-$HOME/.cache/authd-tools}, one folder per
# version (a version bump here builds anew).
set -euo pipefail

MAILPIT_VERSION=v1.33.1

cmd=${1:-build}
port=${2:-}
case "$cmd" in
build) ;;
start | stop)
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "usage: $0 start|stop PORT" >&2; exit 2; }
  ;;
*) echo "usage: $0 [start PORT | stop PORT]" >&2; exit 2 ;;
esac

cache="${AUTHD_TOOLS_CACHE:-$HOME/.cache/authd-tools}"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
log() { printf '%s\n' "mailpit: $*" >&2; }
dir="$cache/mailpit-$MAILPIT_VERSION"
bin="$dir/bin/mailpit"
run="$dir/run-$port" # pid and log of the server on PORT

if [ "$cmd" = stop ]; then
  if [ -f "$run/pid" ]; then
    kill "$(cat "$run/pid")" 2>/dev/null || true
  fi
  rm -rf "$run"
  exit 0
fi

if [ -x "$bin" ]; then
  log "mailpit $MAILPIT_VERSION: $bin (cached)"
else
  command -v go >/dev/null || { log "go is not installed"; exit 1; }
  log "building mailpit $MAILPIT_VERSION (a few minutes on two cores)…"
  start=$(date +%s)
  (cd "$cache" && GOBIN="$dir/bin.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install "github.com/axllent/mailpit@$MAILPIT_VERSION")
  rm -rf "$dir/bin"
  mv "$dir/bin.tmp" "$dir/bin"
  log "built mailpit in $(( $(date +%s) - start )) s: $bin"
fi

env_lines=$(printf 'export AUTHD_TEST_MAILPIT_BIN=%q' "$bin")

if [ "$cmd" = start ]; then
  api="http://127.0.0.1:$((port + 1))"
  if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null && curl -fsS "$api/readyz" >/dev/null 2>&1; then
    log "mailpit on 127.0.0.1:$port already running"
  else
    [ -f "$run/pid" ] && kill "$(cat "$run/pid")" 2>/dev/null || true
    rm -rf "$run"
    mkdir -p "$run"
    nohup "$bin" --smtp "127.0.0.1:$port" --listen "127.0.0.1:$((port + 1))" \
      --database "$run/mailpit.db" --smtp-auth-accept-any --smtp-auth-allow-insecure \
      --smtp-disable-rdns --disable-version-check --quiet >"$run/log" 2>&1 </dev/null &
    echo $! >"$run/pid"
    ok=
    for _ in $(seq 100); do
      if curl -fsS "$api/readyz" >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.1
    done
    [ -n "$ok" ] || { log "mailpit did not become ready; its log:"; cat "$run/log" >&2; exit 1; }
    log "mailpit on 127.0.0.1:$port (SMTP), $api (HTTP API)"
  fi
  env_lines+=$'\n'$(printf 'export AUTHD_TEST_MAILPIT=%q' "127.0.0.1:$port")
fi
printf '%s\n' "$env_lines"
