#!/usr/bin/env bash
# Runs inside the lane's VM (scripts/uhid-lane.sh boots it), as root, over the host's files:
# the simulated token becomes a real HID device through UHID, and the driver reaches it through
# the real hidapi (hidraw back-end), as it would a token on a USB port.
#   uhid-lane-guest.sh OTPTOKEN_BINARY
# Exit status: 0 when every check passed, 1 when one failed, 3 when the VM lacks what it needs.
# UHID_LANE_BREAK=1 expects a wrong serial, to prove that a failing check fails the lane.
set -uo pipefail
bin=$1
py=/usr/bin/python3
work=$(mktemp -d /tmp/uhid-lane.XXXXXX)
chmod 755 "$work"
sim=""
source "$(dirname "$0")/lib/lane-checks.sh"

cleanup() {
  [ -n "$sim" ] && kill "$sim" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

modprobe uhid || { echo "no uhid module in this kernel" && exit 3; }
modprobe hid-generic 2>/dev/null || true
say "kernel $(uname -r); hidapi $(ls /usr/lib/x86_64-linux-gnu/libhidapi-hidraw.so.* 2>/dev/null | head -1)"

expected_serial=12345678
[ "${UHID_LANE_BREAK:-0}" = 1 ] && expected_serial=12345679 && say "UHID_LANE_BREAK=1: expecting a wrong serial on purpose"

# 1. The simulator registers the token through /dev/uhid; the kernel makes /dev/hidrawN.
"$bin" sim serve --uhid --state "$work/token" --socket "$work/press.sock" --serial 12345678 2>"$work/sim.log" &
sim=$!
hidraw_of_token() {
  for uevent in /sys/class/hidraw/hidraw*/device/uevent; do
    grep -q '^HID_ID=0003:00001050:00000407$' "$uevent" 2>/dev/null && basename "$(dirname "$(dirname "$uevent")")"
  done
}
token_present() { [ -n "$(hidraw_of_token)" ]; }
if wait_for 300 token_present && wait_for 100 test -S "$work/press.sock"; then
  node=/dev/$(hidraw_of_token)
  pass "the kernel made $node for the simulated token (HID_ID 0003:00001050:00000407)"
else
  fail "no hidraw device appeared; the simulator said: $(cat "$work/sim.log")"
  exit 1
fi
sock=(--socket-dir "$work/no-sockets")

# 2. Discovery through hidapi: vendor, product and usage page, serial and firmware read over it.
devices=$("$bin" devices --json "${sock[@]}" 2>&1)
check "otptoken devices finds it through hidapi by vendor, product and usage page" \
  "any(d['kind']=='hidraw' and d['path']=='$node' and d['vendorId']==0x1050 and d['productId']==0x0407 and d['usagePage']==1 and d['usage']==6 and d.get('serial')==$expected_serial and d.get('firmware')=='5.4.3' for d in j['devices'])" \
  "$devices"

# 3. Serial and status through the driver.
info=$("$bin" token info --device "$node" --json 2>&1)
check "the driver reads serial and status" "j['serial']==$expected_serial and j['firmware']=='5.4.3'" "$info"

# 4. Program slot 2 with RFC 4226's key, press, and read the typed code through hidraw.
programmed=$("$bin" token hotp --device "$node" --slot 2 --key 3132333435363738393031323334353637383930 --json 2>&1)
check "the driver programs slot 2" "j['ok'] and j['slot']==2" "$programmed"
press_and_read "$node" "the driver read the typed code from hidraw"

# 5. Register the token to a user (a fresh secret into slot 2, confirmed by a press), then verify.
db=(--db "$work/verifier.sqlite" --key-file "$work/master.key")
"$bin" user add --user alice "${db[@]}" >/dev/null 2>&1 || fail "user add: $("$bin" user add --user alice "${db[@]}" 2>&1)"
# Slot 2 holds step 4's key, which the verifier never saw: overwriting it takes --force.
"$bin" register --user alice --device "$node" --timeout 30 --force "${db[@]}" >"$work/register.out" 2>"$work/register.err" &
registering=$!
if wait_for 200 grep -q "press the token's button" "$work/register.err"; then
  "$bin" sim press --socket "$work/press.sock" --slot 2 >/dev/null 2>&1
fi
if wait "$registering"; then
  pass "otptoken register programmed a fresh secret and the press confirmed it ($(tail -1 "$work/register.err"))"
else
  fail "otptoken register failed: $(cat "$work/register.err")"
fi
code=$("$bin" sim press --socket "$work/press.sock" --slot 2 --json 2>&1)
code=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["typed"].strip())' "$code" 2>/dev/null)
verdict=$("$bin" verify --user alice "$code" "${db[@]}" --json 2>&1)
status=$?
check "otptoken verify accepts the next press (exit $status)" "$status==0 and j['result']=='accepted'" "$verdict"
replay=$("$bin" verify --user alice "$code" "${db[@]}" --json 2>&1)
status=$?
check "the same code again is refused as a replay (exit $status)" "$status==1 and j['reason']=='replay'" "$replay"

# 6. Permissions: /dev/hidraw* is root's; a user without the udev rule is told what to do.
ls -l "$node" | grep -q '^crw-------' && pass "$node is 0600 root, as without the udev rule" || fail "$(ls -l "$node")"
denied=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" token info --device "$node" --json 2>&1)
status=$?
check "a user without access gets exit 3 and the udev instructions (exit $status)" \
  "$status==3 and 'permission denied' in j['error'] and 'udev' in j['error']" "$denied"
listed=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" devices --json "${sock[@]}" 2>&1)
check "otptoken devices still lists the token for that user, with the reason it cannot be opened" \
  "any(d['path']=='$node' and 'udev' in d.get('problem','') for d in j['devices'])" "$listed"

# 7. SIGTERM: the simulator destroys the device and the kernel removes the node.
kill -TERM "$sim"
wait "$sim"
status=$?
sim=""
if [ "$status" -eq 0 ] && wait_for 50 test ! -e "$node"; then
  pass "SIGTERM destroyed the device: $node is gone"
else
  fail "after SIGTERM (exit $status) $node is still there: $(cat "$work/sim.log")"
fi

say "$failures failed check(s); the checks took $(since) s"
[ "$failures" -eq 0 ]
