#!/usr/bin/env bash
# The main job end to end on embedded defaults: a simulated token in its own process.
set -euo pipefail
bin=${1:-.build/debug/otptoken}
work=$(mktemp -d)
trap 'kill "$sim" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
sock="$work/token.sock"

"$bin" sim serve --state "$work/token" --socket "$sock" --serial 12345678 &
sim=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

echo "== a simulated token (serial 12345678) runs in its own process on $sock"
echo "== pressing its button (slot 2, still empty: it types nothing)"
"$bin" sim press --socket "$sock" --json
