#!/usr/bin/env bash
# Cost as the data grows, for docs/benchmarks.md: the store side of the
# session check (uncached), login, refresh rotation and revocation with
# 10k, 100k and 1M users and live sessions on SQLite and PostgreSQL; then
# the memory of the revocation set and of the in-memory login throttle.
# The program is bench/scale (go run ./bench/scale -h).
#
#   bash scripts/bench-scale.sh
#   SIZES=10000,100000 ROUNDS=5 bash scripts/bench-scale.sh
#   STORES=sqlite bash scripts/bench-scale.sh        # sqlite, postgres, mem
#
# PostgreSQL: BENCH_POSTGRES (default the local server, trust auth) must
# allow CREATE DATABASE; the run uses its own database authd_scale, dropped
# at the end. SQLite: a temporary directory, removed at the end. Loopback
# only; 1M rows fill in about a minute per store.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-10000,100000,1000000}
ROUNDS=${ROUNDS:-3}
STORES=${STORES:-sqlite postgres mem}
PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DB=authd_scale

work=$(mktemp -d)
dropdb=false
cleanup() {
  if $dropdb; then psql "$PG_ADMIN" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/scale" ./bench/scale
echo "$(nproc) cores, $(go version | cut -d' ' -f3), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for s in $STORES; do
  case $s in
  sqlite)
    mkdir "$work/sqlite"
    "$work/scale" -store sqlite -dir "$work/sqlite" -sizes "$SIZES" -rounds "$ROUNDS"
    rm -rf "$work/sqlite"
    ;;
  postgres)
    if ! psql "$PG_ADMIN" -qAtc 'select 1' >/dev/null 2>&1; then echo "PostgreSQL not reachable at $PG_ADMIN: skipped"; continue; fi
    psql "$PG_ADMIN" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1
    psql "$PG_ADMIN" -qc "create database $DB" >/dev/null
    dropdb=true
    dsn=$(python3 -c 'import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p._replace(path="/"+sys.argv[2]).geturl())' "$PG_ADMIN" "$DB")
    "$work/scale" -store postgres -pg "$dsn" -sizes "$SIZES" -rounds "$ROUNDS"
    psql "$PG_ADMIN" -qc "drop database if exists $DB with (force)" >/dev/null
    dropdb=false
    ;;
  mem)
    "$work/scale" -mem -sizes "$SIZES"
    ;;
  *) echo "unknown store $s" >&2; exit 2 ;;
  esac
  echo "load after $s: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
done
