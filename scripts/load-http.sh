#!/usr/bin/env bash
# HTTP load figures (docs/performance.md): wrk against `otptoken serve` on loopback, release build.
#   1. SQLite, one node.
#   2. PostgreSQL (a throw-away cluster), two nodes on one database, one wrk per node.
# Every request is a fresh, valid code (otptoken-dev load-prepare), so the figures are acceptances:
# durable counter moves with their audit lines (the request files are sized for the rate met, see
# `resized`). Each measurement follows a warm-up of WARMUP
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
# Codes per user, so that no request file runs out at PER_SECOND requests a second per file:
# FILES files, at least MINIMUM codes.
codes_for() {
  local per_second=$1 files=$2 minimum=$3
  local codes=$(((per_second * run_seconds * files + users - 1) / users))
  codes=$((codes > minimum ? codes : minimum))
  echo $((codes < 1000 ? codes : 1000)) # load-prepare's most; raise USERS for more
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
# A process's peak resident memory so far, in MB (the kernel's high-water mark).
peak_rss() { awk '/^VmHWM:/ {printf "%.1f\n", $2 / 1024}' "/proc/$1/status"; }

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

# A request file that wraps around resends used codes, which are refused (and slowed, as wrong
# codes are). Each store's files are sized for a first guess of the rate; when a run wrapped, the
# store is prepared and measured again with files for twice the larger of the guess and the rate
# it met per file, at most three times.
resized() { # SIZE FIGURE... -> the next size
  local best=$1 rate
  shift
  for figure in "$@"; do
    rate=$(echo "$figure" | sed -nE 's/.*"requests_per_s": ([0-9]+).*/\1/p')
    rate=$(( ${rate:-0} / wrk_threads ))
    [ "$rate" -gt "$best" ] && best=$rate
  done
  echo $((2 * best))
}
wrapped() { printf '%s\n' "$@" | grep -q '"wrapped": 1'; }

measure_sqlite() { # PER_SECOND_PER_FILE
  rm -rf "$work/sqlite" "$work"/load.sqlite*
  $prepare --db "$work/load.sqlite" --key-file "$work/master.key" --users "$users" --codes "$(codes_for "$1" 2 30)" \
    --threads 2 --out "$work/sqlite" 2>/dev/null
  serve "$work/sqlite-node" --db "$work/load.sqlite" --key-file "$work/master.key"
  port=$(cat "$work/sqlite-node.port")
  load "$connections" warmup "http://127.0.0.1:$port" "$work/sqlite" 0
  before=$(ticks "${pids[-1]}")
  sqlite=$(load "$connections" "$duration" "http://127.0.0.1:$port" "$work/sqlite" 0 | figure)
  sqlite_cpu=$(cpu_per_request "$before" "$(ticks "${pids[-1]}")" "$sqlite")
  sqlite_rss=$(peak_rss "${pids[-1]}")
  # Let the node finish (its last checkpoint included) before anything else is measured.
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
}

echo "== SQLite, one node, $connections connections, $duration" >&2
size=20000
for attempt in 1 2 3; do
  measure_sqlite "$size"
  wrapped "$sqlite" && [ "$attempt" -lt 3 ] || break
  size=$(resized "$size" "$sqlite")
  echo "load-http: the SQLite request files wrapped; again, sized for $size/s per file" >&2
done
echo "sqlite_one_node: $sqlite"
echo "sqlite_node_cpu_us_per_request: $sqlite_cpu"
echo "sqlite_node_peak_rss_mb: $sqlite_rss"

measure_postgres() { # PER_SECOND_PER_FILE ATTEMPT
  local database="load$2"
  psql -X -q -d "$pg_url" -c "CREATE DATABASE $database" >/dev/null
  local url=${pg_url/\/postgres\?/\/$database?}
  rm -rf "$work/pg-bodies"
  $prepare --postgres "$url" --key-file "$work/master.key" --users "$users" --codes "$(codes_for "$1" 4 20)" \
    --threads 4 --out "$work/pg-bodies" 2>/dev/null
  serve "$work/node-a" --postgres "$url" --key-file "$work/master.key" --threads 16
  serve "$work/node-b" --postgres "$url" --key-file "$work/master.key" --threads 16
  local port_a port_b before after both wrk_a
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
  node_a=$(figure <"$work/wrk-a.txt")
  node_b=$(figure <"$work/wrk-b.txt")
  both=$(( $(echo "$node_a" | sed -nE 's/.*"requests": ([0-9]+).*/\1/p') + $(echo "$node_b" | sed -nE 's/.*"requests": ([0-9]+).*/\1/p') ))
  pg_cpu=$(cpu_per_request "$before" "$after" "{\"requests\": $both}")
  pg_rss="$(peak_rss "${pids[-2]}") $(peak_rss "${pids[-1]}")"
  kill "${pids[-2]}" "${pids[-1]}"
  wait "${pids[-2]}" "${pids[-1]}" 2>/dev/null || true
}

echo "== PostgreSQL, two nodes, $pg_connections connections each, $duration" >&2
pg_url=$(bash scripts/postgres.sh start "$work/pg")
size=5000
for attempt in 1 2 3; do
  measure_postgres "$size" "$attempt"
  wrapped "$node_a" "$node_b" && [ "$attempt" -lt 3 ] || break
  size=$(resized "$size" "$node_a" "$node_b")
  echo "load-http: the PostgreSQL request files wrapped; again, sized for $size/s per file" >&2
done
echo "postgres_node_a: $node_a"
echo "postgres_node_b: $node_b"
echo "postgres_nodes_cpu_us_per_request: $pg_cpu"
echo "postgres_nodes_peak_rss_mb: $pg_rss"
