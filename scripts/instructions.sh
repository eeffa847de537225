#!/usr/bin/env bash
# Instructions per HTTP verification (docs/performance.md): `otptoken serve` on SQLite under
# Valgrind's callgrind, one wrk connection posting fresh valid codes, so every request is a
# durable acceptance alone in its commit. An instruction count stays the same from run to run on
# a noisy machine, where a rate does not: two builds are compared by it.
#
# The counters are zeroed after a warm-up (WARMUP, default 5s) and dumped after the measured run
# (DURATION, default 20s): the figure is the process's user-space instructions, all threads,
# divided by the requests wrk completed. The kernel's share is not counted.
#
# Valgrind 3.19 (Debian 12's) cannot read this toolchain's DWARF 5 debug information, and stops
# on the shared Swift runtime's libraries. So the build is the one `make bench` makes (the Swift
# runtime linked in, .build/static) and the binary is measured from a copy without debug info.
# Environment: BIN and BIN_DEV, another build's statically linked `otptoken` and `otptoken-dev`.
# A benchmark, not a test: it prints, it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-20s}
warmup=${WARMUP:-5s}
build=${BENCH_BUILD:-.build/static}
# USERS (default 1000) and CODES per user (default 20): with the defaults a user comes back about
# every thousand requests; USERS=20000 CODES=1 makes every request a user not seen before.
users=${USERS:-1000}
codes=${CODES:-20}

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
for tool in valgrind wrk; do
  if ! command -v "$tool" >/dev/null; then
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$tool" >/dev/null
  fi
done
bin=${BIN:-}
dev=${BIN_DEV:-}
if [ -z "$bin" ] || [ -z "$dev" ]; then
  for product in otptoken otptoken-dev; do
    swift build -c release --product "$product" --static-swift-stdlib --scratch-path "$build" >/dev/null
  done
  bin=${bin:-$build/release/otptoken}
  dev=${dev:-$build/release/otptoken-dev}
fi

work=$(mktemp -d /tmp/otptoken-instructions.XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

objcopy --strip-debug "$bin" "$work/otptoken"
"$dev" load-prepare --db "$work/load.sqlite" --key-file "$work/master.key" --users "$users" --codes "$codes" --threads 1 \
  --out "$work/bodies" 2>/dev/null
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" \
  "$work/otptoken" serve --port 0 --rate-per-user 0 --rate-per-address 0 --log-level warning \
  --db "$work/load.sqlite" --key-file "$work/master.key" >"$work/serve.out" 2>"$work/valgrind.err" &
server=$!
for _ in $(seq 1 1200); do
  grep -q listening "$work/serve.out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
port=$(sed -nE 's/.*"listening":([0-9]+).*/\1/p' "$work/serve.out")
[ -n "$port" ] || { echo "instructions: serve did not start under valgrind" >&2; tail -20 "$work/valgrind.err" >&2; exit 3; }

url="http://127.0.0.1:$port"
wrk -t1 -c1 -d"$warmup" --timeout 30s -s scripts/wrk-verify.lua "$url" -- "$work/bodies" 0 >/dev/null
callgrind_control --zero "$server" >/dev/null 2>&1
figure=$(wrk -t1 -c1 -d"$duration" --timeout 30s -s scripts/wrk-verify.lua "$url" -- "$work/bodies" 0 |
  grep -E '^\{"requests"')
callgrind_control --dump "$server" >/dev/null 2>&1
dump=""
for _ in $(seq 1 300); do
  dump=$(ls "$work"/callgrind."$server".* 2>/dev/null | head -1)
  [ -n "$dump" ] && grep -q '^totals:' "$dump" && break
  sleep 0.1
done
[ -n "$dump" ] || { echo "instructions: callgrind wrote no dump" >&2; exit 3; }

requests=$(echo "$figure" | sed -nE 's/.*"requests": ([0-9]+).*/\1/p')
accepted=$(echo "$figure" | sed -nE 's/.*"accepted": ([0-9]+).*/\1/p')
total=$(sed -nE 's/^totals: ([0-9]+).*/\1/p' "$dump")
# The store's job (read, plan, conditional writes and the commit): the group commit's inclusive
# cost, from the call graph.
store=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
  grep -E 'GroupCommitC6commit' | sed -E 's/^ *([0-9,]+).*/\1/; s/,//g' | sort -n | tail -1)
[ "$requests" -gt 0 ] || { echo "instructions: no request completed" >&2; exit 3; }
echo "{\"requests\": $requests, \"accepted\": $accepted, \"instructions\": $total," \
  "\"instructions_per_request\": $((total / requests)), \"store_job_per_request\": $((${store:-0} / requests))}"
