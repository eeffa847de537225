# Sourced by the VM lane's guest scripts (uhid-lane-guest.sh, usbip-lane-guest.sh): the clock, the
# check lines and their count, and a bounded wait. Sets $started and $failures; expects $py.
started=$(date +%s.%N)
failures=0

since() { printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)"; }
say() { printf '[%6s s] %s\n' "$(since)" "$*"; }
pass() { say "ok    $*"; }
fail() {
  say "FAIL  $*"
  failures=$((failures + 1))
}
# check DESCRIPTION PYTHON_EXPRESSION OUTPUT: the expression, over `j` (the first JSON line of the
# output, which may hold stderr lines too), must hold.
check() {
  if "$py" -c 'import json,sys; j=json.loads(next(l for l in sys.argv[2].splitlines() if l.startswith("{"))); sys.exit(0 if eval(sys.argv[1]) else 1)' "$2" "$3" 2>/dev/null; then
    pass "$1"
  else
    fail "$1: expected $2, got: $3"
  fi
}
# Bounded wait: up to $1 tenths of a second for the command to succeed.
wait_for() {
  local tenths=$1
  shift
  for _ in $(seq 1 "$tenths"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# press_and_read NODE DESCRIPTION: while `otptoken token read` waits on NODE, a press of slot 2
# (programmed with RFC 4226's key at counter 0) must type the RFC's first code, and the driver must
# read it (DESCRIPTION names how). Expects $bin, $work and the press socket $work/press.sock.
press_and_read() {
  local node=$1 description=$2 reader pressed
  "$bin" token read --device "$node" --timeout 30 --json >"$work/read.json" 2>&1 &
  reader=$!
  wait_for 100 bash -c "ls -l /proc/$reader/fd 2>/dev/null | grep -q '$node'" || fail "token read did not open $node"
  pressed=$("$bin" sim press --socket "$work/press.sock" --slot 2 --json 2>&1)
  wait "$reader"
  check "the press typed RFC 4226's first code" "j['typed']=='755224\\r'" "$pressed"
  check "$description" "j['ok'] and j['code']=='755224'" "$(cat "$work/read.json")"
}
