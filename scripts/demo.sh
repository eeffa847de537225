#!/usr/bin/env bash
# The main job end to end on embedded defaults, readable at a glance.
set -euo pipefail
bin=${1:-.build/debug/otptoken}
work=$(mktemp -d)
sim=""
cleanup() { [ -n "$sim" ] && kill "$sim" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sock="$work/token.sock"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A simulated token starts in its own process (serial 12345678, state in $work/token)"
"$bin" sim serve --state "$work/token" --socket "$sock" --serial 12345678 2>/dev/null &
sim=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done

step "2. The driver finds it, as it finds a real token through hidapi"
"$bin" devices --socket "$sock" --no-hidapi

step "3. The driver programs a fresh random HOTP secret into slot 2 over the virtual HID transport"
# The secret goes to a file (mode 0600), never to the screen.
(umask 077; "$bin" token hotp --socket "$sock" --no-hidapi --slot 2 >"$work/secret.txt")

step "4. Three presses of the button; what the token typed"
for i in 1 2 3; do
  printf '   press %s: %s\n' "$i" "$("$bin" sim press --socket "$sock" --slot 2)"
done

step "5. The token's state after the presses"
"$bin" token info --socket "$sock" --no-hidapi
echo
echo "Done: the token was found, programmed and pressed, all through the same driver a real token uses."
