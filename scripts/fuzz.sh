#!/usr/bin/env bash
# Runs every Go fuzz target in the module, one at a time, each for a
# bounded time; fails when one of them finds an input that breaks it.
#
#   bash scripts/fuzz.sh                      # every target, 10 s each
#   FUZZTIME=30s bash scripts/fuzz.sh         # longer (or a count: 100000x)
#   FUZZPARALLEL=1 bash scripts/fuzz.sh ./user ./token   # only these packages
#
# Budget: FUZZTIME (default 10s) per target, plus the builds (listing
# and an instrumented test binary per package) and the replay of the
# committed seeds. With the 13 targets of today (11 in fuzz_test.go files,
# FuzzRedact, refresh's FuzzParse): about 2 min 10 s of fuzzing and 3 to
# 6 minutes in all on a shared 2-core machine. Every target added later
# adds its FUZZTIME; a run that hits Go's deadline race (below) adds one
# more FUZZTIME.
#
# Targets are found, not listed: every package whose tests hold a
# "func Fuzz" is asked for `go test -list '^Fuzz'`, so a target someone
# adds later is fuzzed without touching this script. Seeds live in each
# package's testdata/fuzz/<Target>/ and run with the ordinary tests too.
#
# A finding is written to testdata/fuzz/<Target>/<hash> in the package
# (commit it with the fix: it becomes a regression test) and the script
# ends non-zero after the remaining targets ran. Go 1.26's fuzzer can
# also fail a clean run with a bare "context deadline exceeded" when the
# time is up while a starved worker is mid-call (golang/go#75804, fixed in
# Go 1.27): such a run, with no input written, is retried once and then
# reported as a warning, never as a finding.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
parallel="${FUZZPARALLEL:-2}"
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run PKG TARGET: 0 clean, 1 finding or other failure, 2 deadline flake.
run() {
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" -parallel "$parallel" "$1" >"$log" 2>&1
  local rc=$?
  tail -n 3 "$log"
  [ $rc -eq 0 ] && return 0
  if grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
    return 2
  fi
  cat "$log"
  return 1
}

targets=0 failed=() flaky=()
while read -r pkg dir; do
  grep -qs '^func Fuzz' "$dir"/*_test.go || continue
  names=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz') || { failed+=("$pkg (listing)"); continue; }
  for name in $names; do
    targets=$((targets + 1))
    printf '\n==> %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
    run "$pkg" "$name"
    rc=$?
    if [ $rc -eq 2 ]; then
      echo "(deadline race of the Go fuzzer, no input written: once more)"
      run "$pkg" "$name"
      rc=$?
      [ $rc -eq 2 ] && { flaky+=("$pkg $name"); rc=0; }
    fi
    [ $rc -ne 0 ] && failed+=("$pkg $name")
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}")

printf '\n%d fuzz targets, %s each\n' "$targets" "$fuzztime"
for f in "${flaky[@]}"; do echo "warning: $f: context deadline exceeded twice with no input written (golang/go#75804)"; done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  echo "Findings are in the package's testdata/fuzz/<Target>/; rerun one with go test -run '<Target>/<file>' <package>" >&2
  exit 1
fi
[ "$targets" -gt 0 ] || { echo "no fuzz targets found" >&2; exit 1; }
