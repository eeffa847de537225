# Sourced by the checks that drive otptoken as its users' software would (browser-check.sh,
# protocols-check.sh): a scratch folder that holds the database and goes away at exit, a simulated
# token in its own process, and alice, with the password "correct horse" and that token
# registered. Expects $bin and a name for the folder in $1; sets $work, $sock, $sim and $server
# (the caller starts the server), and press, which prints the code a press types.
work=$(mktemp -d "/tmp/otptoken-$1.XXXXXX")
sim="" server=""
cleanup() {
  for p in $server $sim; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR="$work" OTPTOKEN_DB="$work/v.sqlite"
unset OTPTOKEN_KEY_FILE OTPTOKEN_POSTGRES
sock="$work/token.sock"
press() { "$bin" sim press --socket "$sock" | head -1; }

"$bin" sim serve --state "$work/token" --socket "$sock" --serial 12345678 2>/dev/null &
sim=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
echo "correct horse" | "$bin" user add --user alice --password-stdin 2>/dev/null
"$bin" register --user alice --socket "$sock" --no-hidapi 2> "$work/register.log" &
registering=$!
for _ in $(seq 200); do grep -q "press the token" "$work/register.log" 2>/dev/null && break; sleep 0.05; done
press >/dev/null
wait "$registering"
