#!/usr/bin/env bash
# HTTP load figures for docs/benchmarks.md: authd's hot paths next to a
# trivial net/http handler, measured in the same run on the same machine.
#
#   bash scripts/bench-http.sh            # 10 s per figure
#   DURATION=30s bash scripts/bench-http.sh
#
# Needs wrk (Debian package "wrk"; installed when missing and run as root).
# Loopback only; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
work=$(mktemp -d)
# Process IDs go to a file: start_authd runs in a $(...) subshell, whose
# changes to a shell array would never reach this shell's cleanup.
pidfile="$work/pids"
cleanup() {
  if [ -f "$pidfile" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$pidfile"
  fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else echo "install wrk" >&2; exit 1; fi
fi

go build -o "$work/authd" ./cmd/authd
go build -o "$work/trivial" ./internal/cmd/trivial

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -fs "$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

start_authd() { # name, extra flags...
  local name=$1; shift
  local p; p=$(port)
  "$work/authd" serve --addr "127.0.0.1:$p" --data-dir "$work/$name" --login-throttle off --password-grant on --log-level error "$@" >/dev/null 2>&1 &
  echo $! >>"$pidfile"
  wait_up "http://127.0.0.1:$p"
  echo "http://127.0.0.1:$p"
}

TP=$(port)
"$work/trivial" --addr "127.0.0.1:$TP" >/dev/null 2>&1 &
echo $! >>"$pidfile"
TRIVIAL="http://127.0.0.1:$TP"
sleep 0.3

SQLITE=$(start_authd sqlite)
NOCACHE=$(start_authd nocache --session-cache-ttl 0 --token-cache-size -1)
MEMORY=$(start_authd memory --database memory://)
# The same as SQLITE with Prometheus metrics on (--metrics-addr): the
# overhead of the metrics middleware and the timed store calls.
METRICS=$(start_authd metrics --metrics-addr "127.0.0.1:$(port)")

# PostgreSQL and Redis, when reachable (bash .ci/run starts them; or set
# BENCH_POSTGRES / BENCH_REDIS). Each run uses a fresh database.
PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REDIS_URL=${BENCH_REDIS:-redis://127.0.0.1:6379/0}
KEK=$(head -c 32 /dev/urandom | base64)
PG= PGRD= PGNC= RDNC=
if psql "$PG_ADMIN" -qAtc 'select 1' >/dev/null 2>&1; then
  db=authd_bench_$$
  psql "$PG_ADMIN" -qc "create database $db" >/dev/null
  trap 'cleanup; psql "$PG_ADMIN" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true' EXIT
  PG_DSN=$(python3 -c 'import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p._replace(path="/"+sys.argv[2]).geturl())' "$PG_ADMIN" "$db")
  PG=$(start_authd pg --database "$PG_DSN" --key-encryption-key "$KEK" --issuer http://authd.bench)
  PGNC=$(start_authd pgnc --database "$PG_DSN" --key-encryption-key "$KEK" --issuer http://authd.bench --session-cache-ttl 0)
  if redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
    PGRD=$(start_authd pgredis --database "$PG_DSN" --key-encryption-key "$KEK" --issuer http://authd.bench --redis "$REDIS_URL" --redis-prefix "authdbench$$:")
    RDNC=$(start_authd rdnc --database "$PG_DSN" --key-encryption-key "$KEK" --issuer http://authd.bench --redis "$REDIS_URL" --redis-prefix "authdbench$$:" --session-cache-ttl 0)
  fi
fi

pw='correct horse battery staple'
setup() { # base → prints cookie secret
  curl -fs -XPOST "$1/v1/users" -H 'Content-Type: application/json' -d "{\"email\":\"bench@example.com\",\"password\":\"$pw\"}" >/dev/null
  curl -fs -i -XPOST "$1/v1/session" -H 'Content-Type: application/json' -d "{\"email\":\"bench@example.com\",\"password\":\"$pw\"}" |
    tr -d '\r' | sed -n 's/^Set-Cookie: __Host-authd_session=\([^;]*\);.*/\1/p'
}
access_token() {
  curl -fs -XPOST "$1/oauth2/token" -d grant_type=password -d username=bench@example.com --data-urlencode "password=$pw" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])'
}
C_SQLITE=$(setup "$SQLITE"); C_NOCACHE=$(setup "$NOCACHE"); C_MEMORY=$(setup "$MEMORY"); C_METRICS=$(setup "$METRICS")
T_SQLITE=$(access_token "$SQLITE"); T_NOCACHE=$(access_token "$NOCACHE"); T_METRICS=$(access_token "$METRICS")
[ -n "$PG" ] && { C_PG=$(setup "$PG"); T_PG=$(access_token "$PG"); }
[ -n "$PGRD" ] && { C_PGRD=$(setup "$PGRD"); T_PGRD=$(access_token "$PGRD"); }

rps() { wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "$@" | awk '/Requests\/sec/ {printf "%d", $2}'; }

cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"$pw"}'
LUA

base=$(rps "$TRIVIAL/")
row() { local name=$1; shift; local r; r=$(rps "$@"); printf '| %s | %s | %s%% |\n' "$name" "$r" "$(( r * 100 / base ))"; }

echo "wrk -t$THREADS -c$CONNS -d$DURATION, $(nproc) cores, $(go version | cut -d' ' -f3)"
echo
echo "| endpoint | req/s | of trivial |"
echo "|---|---:|---:|"
printf '| trivial net/http handler | %s | 100%% |\n' "$base"
row "GET /v1/session, cookie, SQLite (1 s look-up cache, default)" -H "Cookie: __Host-authd_session=$C_SQLITE" "$SQLITE/v1/session"
row "GET /v1/session, cookie, SQLite, no cache (every request reads SQLite)" -H "Cookie: __Host-authd_session=$C_NOCACHE" "$NOCACHE/v1/session"
row "GET /v1/session, cookie, memory store" -H "Cookie: __Host-authd_session=$C_MEMORY" "$MEMORY/v1/session"
row "GET /v1/session, cookie, SQLite, metrics on (--metrics-addr)" -H "Cookie: __Host-authd_session=$C_METRICS" "$METRICS/v1/session"
row "GET /v1/user, Bearer, token seen before (default)" -H "Authorization: Bearer $T_SQLITE" "$SQLITE/v1/user"
row "GET /v1/user, Bearer, token seen before, metrics on" -H "Authorization: Bearer $T_METRICS" "$METRICS/v1/user"
row "GET /v1/user, Bearer, full verify every request (no token cache)" -H "Authorization: Bearer $T_NOCACHE" "$NOCACHE/v1/user"
row "GET /v1/auth/check, cookie, SQLite (forward auth)" -H "Cookie: __Host-authd_session=$C_SQLITE" "$SQLITE/v1/auth/check"
row "GET /v1/auth/check, Bearer, token seen before" -H "Authorization: Bearer $T_SQLITE" "$SQLITE/v1/auth/check"
if [ -n "$PG" ]; then
  row "GET /v1/session, cookie, PostgreSQL (1 s cache)" -H "Cookie: __Host-authd_session=$C_PG" "$PG/v1/session"
  row "GET /v1/session, cookie, PostgreSQL, no cache (a query per request)" -H "Cookie: __Host-authd_session=$C_PG" "$PGNC/v1/session"
  row "GET /v1/user, Bearer, PostgreSQL" -H "Authorization: Bearer $T_PG" "$PG/v1/user"
fi
if [ -n "$PGRD" ]; then
  row "GET /v1/session, cookie, Redis (1 s cache)" -H "Cookie: __Host-authd_session=$C_PGRD" "$PGRD/v1/session"
  row "GET /v1/session, cookie, Redis, no cache (a GET per request)" -H "Cookie: __Host-authd_session=$C_PGRD" "$RDNC/v1/session"
  row "GET /v1/user, Bearer, Redis" -H "Authorization: Bearer $T_PGRD" "$PGRD/v1/user"
fi
row "POST /v1/session (login, Argon2id m=19456 t=2 p=1)" -s "$work/login.lua" "$SQLITE/v1/session"

echo
echo "Refresh-token rotation, 32 clients each rotating its own chain:"
go build -o "$work/refreshload" ./internal/cmd/refreshload
for target in "SQLite:$SQLITE" ${PG:+"PostgreSQL:$PG"} ${PGRD:+"Redis:$PGRD"}; do
  printf '%s: ' "${target%%:*}"
  BENCH_PASSWORD="$pw" "$work/refreshload" -url "${target#*:}" -c 32 -d "$DURATION"
done
