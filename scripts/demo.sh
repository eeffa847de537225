#!/usr/bin/env bash
# The main job end to end on embedded defaults (a SQLite file, a simulated token), readable at a
# glance: register a token to a user, verify a press, refuse the replay, recover lost presses.
set -euo pipefail
bin=${1:-.build/debug/otptoken}
work=$(mktemp -d)
sim=""
cleanup() { [ -n "$sim" ] && kill "$sim" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export XDG_DATA_HOME="$work/data"   # the verifier's default database lands here, not in your home
unset OTPTOKEN_DB OTPTOKEN_KEY_FILE
sock="$work/token.sock"
bold=$'\033[1m' green=$'\033[32m' red=$'\033[31m' plain=$'\033[0m'
step() { printf '\n%s%s%s\n' "$bold" "$*" "$plain"; }
press() { "$bin" sim press --socket "$sock" | head -1; }
decide() {  # user code -> prints the decision in colour
  local out reason
  if out=$("$bin" verify --user "$1" "$2" --json 2>/dev/null); then
    reason=$(sed -E 's/.*"reason":"([^"]*)".*/\1/' <<<"$out")
    [ "$reason" = accepted ] && reason="" || reason=" ($reason)"
    printf '   %saccepted%s%s\n' "$green" "$reason" "$plain"
  else
    printf '   %srefused (%s)%s\n' "$red" "$(sed -E 's/.*"reason":"([^"]*)".*/\1/' <<<"$out")" "$plain"
  fi
}

step "1. A simulated token starts in its own process (a YubiKey 5 to anyone who asks, serial 12345678)"
"$bin" sim serve --state "$work/token" --socket "$sock" --serial 12345678 2>/dev/null &
sim=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
"$bin" devices --socket "$sock" --no-hidapi | sed 's/^/   /'

step "2. alice gets an account; her token is registered: a fresh secret goes into slot 2, a press confirms it"
"$bin" user add --user alice 2>/dev/null
"$bin" register --user alice --socket "$sock" --no-hidapi 2> "$work/register.log" &
reg=$!
for _ in $(seq 100); do grep -q "press the token" "$work/register.log" 2>/dev/null && break; sleep 0.05; done
echo "   the button is pressed; the token types: $(press)"
wait "$reg"
sed 's/^/   /' "$work/register.log"

step "3. alice logs in: the token types a code, the verifier decides"
code=$(press)
echo "   typed: $code"
decide alice "$code"

step "4. The same code again (a replay)"
echo "   typed: $code (again)"
decide alice "$code"

step "5. The token is pressed 40 times away from the verifier (those codes never arrive)"
for _ in $(seq 40); do press >/dev/null; done
echo "   40 codes lost; the token is now 41 presses ahead"
code=$(press)
echo "   typed: $code"
decide alice "$code"
code=$(press)
echo "   pressed once more: $code"
decide alice "$code"

step "6. bob tries alice's next code"
"$bin" user add --user bob 2>/dev/null
code=$(press)
decide bob "$code"
echo "   and alice, with the same code:"
decide alice "$code"

step "7. The audit log (no secret and no whole code in it)"
"$bin" audit --limit 8 | awk -F'\t' '{printf "   %-24s %-6s %-14s %-8s %-9s %s\n", $1, $2, $3, $4, $5, $6}'
echo
echo "Done: registered, verified, replay refused, 40 lost presses recovered, all on embedded defaults."
