#!/usr/bin/env bash
# HTTP load figures (docs/performance.md): wrk against `otptoken serve` on loopback, release build.
#   1. SQLite, one node.
#   2. PostgreSQL (a throw-away cluster), two nodes on one database, one wrk per node.
# Every request is a fresh, valid code (otptoken-dev load-prepare), so the figures are acceptances:
# durable counter moves with their audit lines. Each measurement follows a warm-up of WARMUP
# (default 4s; 0s for none) with the same users and further codes, so it shows a running service
# (connections open, statements prepared, the users seen before) rather than its first seconds.
# A benchmark, not a test: it prints, it asserts nothing.
# Environment: BIN (default: build this tree) and BIN_DEV, the `otptoken-dev` of the same build
# (default: this tree's), to measure another build against a store it prepared; DURATION (default 10s), CONNECTIONS for the SQLite node (default 12),
# PG_CONNECTIONS per PostgreSQL node (default 4), WRK_THREADS per wrk (default 1), USERS (default
# 10000). The defaults are the concurrency at which the p99 target is measured on a 2-core machine
# shared with wrk; raise them for throughput (32 connections: more requests, longer queues).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-10s}
warmup=${WARMUP:-4s}
connections=${CONNECTIONS:-12}
pg_connections=${PG_CONNECTIONS:-4}
wrk_threads=${WRK_THREADS:-1}
users=${USERS:-10000}

# Seconds in a wrk duration (10s, 2m, 1h).
seconds() {
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
run_seconds=$(($(seconds "$duration") + $(seconds "$warmup")))
# Codes per user, so that no request file runs out (a wrapped file resends used codes, which are
# refused, and the figure says how many): room for 20,000 requests a second per file on SQLite
# (2 files), 5,000 on PostgreSQL (4 files), over twice the rates met on the project's machines.
codes_for() {
  local per_second=$1 files=$2 minimum=$3
  local codes=$(((per_second * run_seconds * files + users - 1) / users))
  echo $((codes > minimum ? codes : minimum))
}

if ! command -v wrk >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
# BIN: an `otptoken` to measure instead of this tree's release build (to compare two builds);
# BIN_DEV: that build's `otptoken-dev`, whose `load-prepare` makes the users and requests in the
# schema BIN expects (else this tree's).
dev=${BIN_DEV:-}
if [ -z "$dev" ]; then
  swift build -c release --product otptoken-dev >/dev/null
  dev=.build/release/otptoken-dev
fi
prepare="$dev load-prepare"
bin=${BIN:-}
if [ -z "$bin" ]; then
  swift build -c release --product otptoken >/dev/null
  bin=.build/release/otptoken
fi
work=$(mktemp -d /tmp/otptoken-load.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -d "$work/pg" ] && bash scripts/postgres.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

# Starts `otptoken serve` with the given store options; its port goes to LOG.port.
serve() {
  local log=$1
  shift
  "$bin" serve --port 0 --rate-per-user 0 --rate-per-address 0 --log-level warning "$@" >"$log.out" 2>"$log.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    if grep -q listening "$log.out" 2>/dev/null; then
      sed -E 's/.*"listening":([0-9]+).*/\1/' "$log.out" >"$log.port"
      return
    fi
    sleep 0.05
  done
  echo "serve did not start: $(cat "$log.err")" >&2
  exit 3
}

figure() { grep -E '^\{"requests"' || echo '{"error": "wrk printed no figures"}'; }

# CPU time a process has used, in clock ticks (user + system), and per request of a wrk figure:
# steadier than a rate on a shared machine, to compare two builds.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_per_request() { # TICKS_BEFORE TICKS_AFTER FIGURE
  local requests
  requests=$(echo "$3" | sed -nE 's/.*"requests": ([0-9]+).*/\1/p')
  [ -n "$requests" ] && [ "$requests" -gt 0 ] || { echo "n/a"; return; }
  echo $(( ($2 - $1) * 1000000 / $(getconf CLK_TCK) / requests ))
}

# wrk with the verify script: CONNECTIONS DURATION URL FOLDER FILE_OFFSET (a warm-up when
# DURATION is WARMUP: its figures are dropped, and the next run carries on with the next codes).
load() {
  if [ "$2" = warmup ]; then
    [ "$warmup" = 0s ] && return
    wrk -t"$wrk_threads" -c"$1" -d"$warmup" -s scripts/wrk-verify.lua "$3" -- "$4" "$5" >/dev/null
  else
    wrk -t"$wrk_threads" -c"$1" -d"$2" -s scripts/wrk-verify.lua "$3" -- "$4" "$5"
  fi
}

echo "== SQLite, one node, $connections connections, $duration" >&2
$prepare --db "$work/load.sqlite" --key-file "$work/master.key" --users "$users" --codes "$(codes_for 20000 2 30)" \
  --threads 2 --out "$work/sqlite" 2>/dev/null
serve "$work/sqlite-node" --db "$work/load.sqlite" --key-file "$work/master.key"
port=$(cat "$work/sqlite-node.port")
load "$connections" warmup "http://127.0.0.1:$port" "$work/sqlite" 0
before=$(ticks "${pids[-1]}")
sqlite=$(load "$connections" "$duration" "http://127.0.0.1:$port" "$work/sqlite" 0 | figure)
echo "sqlite_one_node: $sqlite"
echo "sqlite_node_cpu_us_per_request: $(cpu_per_request "$before" "$(ticks "${pids[-1]}")" "$sqlite")"
# Let the node finish (its last checkpoint included) before the PostgreSQL figures are taken.
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true

echo "== PostgreSQL, two nodes, $pg_connections connections each, $duration" >&2
url=$(bash scripts/postgres.sh start "$work/pg")
psql -X -q -d "$url" -c "CREATE DATABASE load" >/dev/null
url=${url/\/postgres\?/\/load?}
$prepare --postgres "$url" --key-file "$work/master.key" --users "$users" --codes "$(codes_for 5000 4 20)" --threads 4 \
  --out "$work/pg-bodies" 2>/dev/null
serve "$work/node-a" --postgres "$url" --key-file "$work/master.key" --threads 16
serve "$work/node-b" --postgres "$url" --key-file "$work/master.key" --threads 16
port_a=$(cat "$work/node-a.port")
port_b=$(cat "$work/node-b.port")
for phase in warmup "$duration"; do
  before=$(( $(ticks "${pids[-2]}") + $(ticks "${pids[-1]}") ))
  load "$pg_connections" "$phase" "http://127.0.0.1:$port_a" "$work/pg-bodies" 0 >"$work/wrk-a.txt" &
  wrk_a=$!
  load "$pg_connections" "$phase" "http://127.0.0.1:$port_b" "$work/pg-bodies" 2 >"$work/wrk-b.txt"
  wait "$wrk_a"
done
after=$(( $(ticks "${pids[-2]}") + $(ticks "${pids[-1]}") ))
echo "postgres_node_a: $(figure <"$work/wrk-a.txt")"
echo "postgres_node_b: $(figure <"$work/wrk-b.txt")"
both=$(( $(figure <"$work/wrk-a.txt" | sed -nE 's/.*"requests": ([0-9]+).*/\1/p') + $(figure <"$work/wrk-b.txt" | sed -nE 's/.*"requests": ([0-9]+).*/\1/p') ))
echo "postgres_nodes_cpu_us_per_request: $(cpu_per_request "$before" "$after" "{\"requests\": $both}")"
