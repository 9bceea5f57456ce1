#!/usr/bin/env bash
# Does a login flood starve session checks? Figures for docs/benchmarks.md.
#
# Starts authd on its SQLite default on a loopback port, registers ACCOUNTS
# users and logs one of them in. Then it measures the latency of
# `GET /v1/session` (wrk -c$CHECK_CONNS --latency) twice: alone, and while
# FLOOD_CONNS connections POST logins as fast as they can. The flood is the
# worst case: correct passwords, round-robin over the accounts, login
# throttle off, so every login hashes (a refused guess would cost no hash)
# and succeeds. Each measurement is repeated RUNS times (every run is
# printed, then a table of medians), for the default settings and for the
# hash concurrency authd had before (one hash per core).
#
#   bash scripts/bench-login-flood.sh
#   RUNS=5 DURATION=10s bash scripts/bench-login-flood.sh
#   SETTINGS_LIST='default;--hash-concurrency 2;--session-cache-ttl 0' bash scripts/bench-login-flood.sh
#   CHECK_CONNS=8 CHECK_DELAY_MS=4 bash scripts/bench-login-flood.sh   # checks at a steady ~2,000/s
#
# Target: the check's p99 under the flood < 10 ms, logins still served at
# the hasher's rate. Needs wrk (Debian package "wrk"; installed when missing
# and run as root). Loopback only; every process started here is stopped
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}         # each measurement
RUNS=${RUNS:-3}
FLOOD_CONNS=${FLOOD_CONNS:-64}
CHECK_CONNS=${CHECK_CONNS:-2}
ACCOUNTS=${ACCOUNTS:-128}        # ≥ 2 × FLOOD_CONNS: at most 2 guesses per account run at once
# Each setting is a run of authd with these extra flags ("default": none).
# The second is the hash concurrency authd had before: one hash per core.
if [ -n "${SETTINGS_LIST:-}" ]; then IFS=';' read -r -a SETTINGS <<<"$SETTINGS_LIST"; else SETTINGS=(default "--hash-concurrency $(nproc)"); fi

work=$(mktemp -d)
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

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pw='correct horse battery staple'

# start SETTING: authd with the flags of SETTING ("default": none), users
# registered, one logged in; sets URL, COOKIE and APID.
start() {
  local flags=$1; [ "$flags" = default ] && flags=
  local p; p=$(port)
  URL="http://127.0.0.1:$p"
  rm -rf "$work/data"
  # shellcheck disable=SC2086 # flags is a list of flags
  "$work/authd" serve --addr "127.0.0.1:$p" --data-dir "$work/data" --login-throttle off --log-level error $flags \
    >"$work/authd.log" 2>&1 &
  APID=$!
  echo $APID >>"$pidfile"
  for _ in $(seq 100); do curl -fs "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "$URL/healthz" >/dev/null || { echo "authd did not start:" >&2; cat "$work/authd.log" >&2; exit 1; }
  seq 0 $((ACCOUNTS - 1)) | xargs -P 4 -I{} curl -fs -o /dev/null -XPOST "$URL/v1/users" \
    -H 'Content-Type: application/json' -d "{\"email\":\"flood{}@example.com\",\"password\":\"$pw\"}"
  COOKIE=$(curl -fs -i -XPOST "$URL/v1/session" -H 'Content-Type: application/json' \
    -d "{\"email\":\"flood0@example.com\",\"password\":\"$pw\"}" |
    tr -d '\r' | sed -n 's/^Set-Cookie: __Host-authd_session=\([^;]*\);.*/\1/p')
  [ -n "$COOKIE" ] || { echo "login failed" >&2; exit 1; }
}
stop() { kill "$APID" 2>/dev/null || true; wait "$APID" 2>/dev/null || true; }

# The flood: each wrk thread walks its own share of the accounts, so no
# account has more than one login of this flood in flight; it counts the
# answers by status.
cat >"$work/flood.lua" <<LUA
local threads, nthreads = {}, 0
function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end
function init(args)
  i, ok, limited, unavailable, other = 0, 0, 0, 0, 0
end
function request()
  local k = (i * 2 + tid) % $ACCOUNTS
  i = i + 1
  return wrk.format("POST", "/v1/session", {["Content-Type"] = "application/json"},
    '{"email":"flood' .. k .. '@example.com","password":"$pw"}')
end
function response(status, headers, body)
  if status == 201 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  elseif status == 503 then unavailable = unavailable + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, l, u, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); l = l + t:get("limited"); u = u + t:get("unavailable"); x = x + t:get("other")
  end
  io.write(string.format("FLOOD ok=%d 429=%d 503=%d other=%d secs=%.2f p50=%.0fms p99=%.0fms\n",
    o, l, u, x, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
LUA

secs() { local d=$1; case $d in *ms) echo 1;; *s) echo "${d%s}";; *m) echo $(( ${d%m} * 60 ));; *) echo "$d";; esac; }
D=$(secs "$DURATION")

# CHECK_DELAY_MS: each check connection waits this long between requests
# (wrk's delay()), so the checks come at a steady rate as users' do,
# instead of as fast as one core allows (the default: closed loop, which
# also makes wrk itself compete for the core the hash leaves free).
check_script=()
if [ -n "${CHECK_DELAY_MS:-}" ]; then
  printf 'function delay()\n  return %s\nend\n' "$CHECK_DELAY_MS" >"$work/delay.lua"
  check_script=(-s "$work/delay.lua")
fi

# check → "p50 p99 req/s", latencies in ms, from wrk's latency distribution.
check() {
  wrk -t1 -c"$CHECK_CONNS" -d"$DURATION" --timeout 10s --latency "${check_script[@]}" -H "Cookie: __Host-authd_session=$COOKIE" "$URL/v1/session" |
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
         $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Requests\/sec/ { rps = $2 }
         END { printf "%.2f %.2f %d\n", p50, p99, rps }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "$(nproc) cores, $(go version | cut -d' ' -f3), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "check: wrk -t1 -c$CHECK_CONNS -d$DURATION --latency GET /v1/session (1 s look-up cache); flood: wrk -t2 -c$FLOOD_CONNS POST /v1/session over $ACCOUNTS accounts, throttle off, every login hashes and succeeds"
echo
rows=()
for setting in "${SETTINGS[@]}"; do
  start "$setting"
  : >"$work/quiet"; : >"$work/flooded"; : >"$work/logins"; : >"$work/refused"
  for run in $(seq "$RUNS"); do
    read -r q50 q99 qrps < <(check)
    echo "$q50 $q99" >>"$work/quiet"
    # The flood runs 2 s longer than the check, which starts 1 s into it.
    wrk -t2 -c"$FLOOD_CONNS" -d"$(( D + 2 ))s" --timeout 30s -s "$work/flood.lua" "$URL/v1/session" >"$work/flood.out" 2>&1 &
    fpid=$!
    echo $fpid >>"$pidfile"
    sleep 1
    read -r f50 f99 frps < <(check)
    wait $fpid || true
    echo "$f50 $f99" >>"$work/flooded"
    fl=$(grep '^FLOOD' "$work/flood.out" || echo "FLOOD ok=0 429=0 503=0 other=0 secs=1")
    read -r ok refused < <(sed -n 's/.* ok=\([0-9]*\) 429=\([0-9]*\) 503=\([0-9]*\) other=\([0-9]*\) secs=\([0-9.]*\).*/\1 \2 \3 \4 \5/p' <<<"$fl" |
      awk '{ printf "%.0f %d\n", $1 / $5, $2 + $3 + $4 }')
    echo "$ok" >>"$work/logins"; echo "$refused" >>"$work/refused"
    printf '%s, run %d: check alone p50 %s ms p99 %s ms (%s req/s) | flooded p50 %s ms p99 %s ms (%s req/s) | logins %s/s — %s | load %s\n' \
      "$setting" "$run" "$q50" "$q99" "$qrps" "$f50" "$f99" "$frps" "$ok" "${fl#FLOOD }" "$(cut -d' ' -f1 /proc/loadavg)"
  done
  stop
  rows+=("$(printf '| %s | %s / %s ms | %s / **%s ms** | %s | %s |' "$setting" \
    "$(cut -d' ' -f1 "$work/quiet" | median)" "$(cut -d' ' -f2 "$work/quiet" | median)" \
    "$(cut -d' ' -f1 "$work/flooded" | median)" "$(cut -d' ' -f2 "$work/flooded" | median)" \
    "$(median <"$work/logins")" "$(median <"$work/refused")")")
done
echo
echo "| authd flags | check alone p50 / p99 | check under the flood p50 / p99 | logins/s (201) | refused (429/503/other) |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo "(medians of $RUNS runs; load after: $(cut -d' ' -f1-3 /proc/loadavg))"
