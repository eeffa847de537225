#!/usr/bin/env bash
# Runs inside the lane's VM after uhid-lane-guest.sh (scripts/uhid-lane.sh boots it), as root:
# the simulated token is exported over USB/IP on loopback and attached through the kernel's
# vhci-hcd with Debian's usbip tool, so it is a USB device with the whole stack above it:
# usbhid, hidraw, libusb, udev with the project's rules, and Yubico's libusb tools.
#   usbip-lane-guest.sh OTPTOKEN_BINARY [TRACE_FILE]
# TRACE_FILE receives what the kernel sent the simulator (the recording the host tests replay).
# Exit status: 0 when every check passed, 1 when one failed, 3 when the VM lacks what it needs.
# UHID_LANE_BREAK=1 expects a wrong serial from ykinfo, to prove that a failing check fails the lane.
set -uo pipefail
bin=$1
trace=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
work=$(mktemp -d /tmp/usbip-lane.XXXXXX)
chmod 755 "$work"
sim=""
watcher=""
udevd=""
source "$(dirname "$0")/lib/lane-checks.sh"

cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  [ -n "$sim" ] && kill "$sim" 2>/dev/null
  [ -n "$udevd" ] && kill "$udevd" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

for tool in usbip lsusb ykinfo ykpersonalize udevadm; do
  command -v "$tool" >/dev/null || { echo "no $tool in the VM (uhid-lane.sh installs it)" && exit 3; }
done
modprobe vhci-hcd || { echo "no vhci-hcd module in this kernel" && exit 3; }
modprobe usbhid 2>/dev/null || true

# udev with the project's rules (/etc is a writable overlay in the VM), so that hidraw nodes get
# the group and tags the rules promise, and libusb gets its hot-plug events from udev.
cp "$root/udev/69-otptoken.rules" "$root/udev/70-otptoken-plugdev.rules" /etc/udev/rules.d/
if ! udevadm control --ping 2>/dev/null; then
  /lib/systemd/systemd-udevd >"$work/udevd.log" 2>&1 &
  udevd=$!
  wait_for 100 udevadm control --ping || { echo "systemd-udevd did not start: $(cat "$work/udevd.log")" && exit 3; }
fi
udevadm control --reload
mkdir -p /run/vhci_hcd
say "kernel $(uname -r); $(usbip version 2>&1); libusb $(ls /usr/lib/x86_64-linux-gnu/libusb-1.0.so.* | head -1)"

expected_serial=12345678
[ "${UHID_LANE_BREAK:-0}" = 1 ] && expected_serial=12345679 && say "UHID_LANE_BREAK=1: expecting a wrong serial on purpose"

# 1. The simulator exports the token on loopback; usbip lists it.
"$bin" sim serve --usbip --state "$work/token" --socket "$work/press.sock" --serial 12345678 \
  ${trace:+--usbip-trace "$trace"} 2>"$work/sim.log" &
sim=$!
wait_for 200 test -S "$work/press.sock" || {
  fail "the simulator did not start: $(cat "$work/sim.log")"
  exit 1
}
listed=$(usbip list -r 127.0.0.1 2>&1)
if grep -q '1-1: .*(1050:0407)' <<<"$listed"; then
  pass "usbip list -r 127.0.0.1 shows bus ID 1-1 as 1050:0407"
else
  fail "usbip list: $listed"
fi

# 2. Hot-plug: a watcher through libusb (no polling fallback), started before the attach.
sock=(--socket-dir "$work/no-sockets")
"$bin" devices --watch --json "${sock[@]}" >"$work/watch.out" 2>"$work/watch.err" &
watcher=$!
sleep 1

# 3. Attach: the kernel enumerates the token on vhci-hcd and usbhid binds.
attached=$(usbip attach -r 127.0.0.1 -b 1-1 2>&1) && pass "usbip attach -r 127.0.0.1 -b 1-1" ||
  fail "usbip attach: $attached; the simulator said: $(cat "$work/sim.log")"
hidraw_of_token() {
  for uevent in /sys/class/hidraw/hidraw*/device/uevent; do
    grep -q '^HID_ID=0003:00001050:00000407$' "$uevent" 2>/dev/null && basename "$(dirname "$(dirname "$uevent")")"
  done
}
token_present() { [ -n "$(hidraw_of_token)" ]; }
if wait_for 300 token_present; then
  node=/dev/$(hidraw_of_token)
  pass "usbhid bound and the kernel made $node ($(readlink -f "/sys/class/hidraw/${node#/dev/}/device" | grep -o 'vhci_hcd[^/]*/usb[0-9]*/[0-9-]*'))"
else
  fail "no hidraw device appeared; dmesg: $(dmesg | tail -15); the simulator said: $(cat "$work/sim.log")"
  exit 1
fi
lsusb=$(lsusb -d 1050:0407 2>&1)
[[ $lsusb == *"ID 1050:0407 Yubico"* ]] && pass "lsusb: $lsusb" || fail "lsusb -d 1050:0407: $lsusb"
descriptors=$(lsusb -v -d 1050:0407 2>/dev/null)
grep -q 'bInterfaceProtocol *1 Keyboard' <<<"$descriptors" && grep -q 'bEndpointAddress *0x81' <<<"$descriptors" &&
  pass "lsusb -v reads the boot keyboard interface and its interrupt endpoint 0x81" ||
  fail "lsusb -v: $descriptors"

# 4. udev applied the project's rules to the hidraw node of a USB parent.
udevadm settle -t 10
properties=$(udevadm info -q property -n "$node")
grep -qx 'ID_SECURITY_TOKEN=1' <<<"$properties" && grep -q '^TAGS=.*:uaccess:' <<<"$properties" &&
  pass "udev marked $node a security token with the uaccess tag (69-otptoken.rules, systemd's 70-uaccess)" ||
  fail "udev properties of $node: $properties"
mode=$(stat -c '%A %G' "$node")
[ "$mode" = "crw-rw---- plugdev" ] && pass "$node is $mode (70-otptoken-plugdev.rules)" || fail "$node is $mode"

# 5. hidapi finds it with its serial, as root and as a member of plugdev; others get the udev hint.
devices=$("$bin" devices --json "${sock[@]}" 2>&1)
check "otptoken devices finds it through hidapi, over USB, with serial and firmware" \
  "any(d['kind']=='hidraw' and d['path']=='$node' and d['vendorId']==0x1050 and d['productId']==0x0407 and d.get('serial')==12345678 and d.get('firmware')=='5.4.3' for d in j['devices'])" \
  "$devices"
member=$(setpriv --reuid=nobody --regid=nogroup --groups=plugdev "$bin" token info --device "$node" --json 2>&1)
check "a user in plugdev reads serial and status without root" "j['serial']==12345678" "$member"
denied=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" token info --device "$node" --json 2>&1)
status=$?
check "a user outside plugdev gets exit 3 and the udev instructions (exit $status)" \
  "$status==3 and 'permission denied' in j['error'] and 'udev' in j['error']" "$denied"

# 6. Yubico's libusb tools: ykinfo reads the serial; ykpersonalize programs slot 2 with RFC
# 4226's key as OATH-HOTP; a press then types the RFC's first code.
serial=$(ykinfo -s 2>&1)
[ "$serial" = "serial: $expected_serial" ] && pass "ykinfo -s: $serial" || fail "ykinfo -s: expected serial: $expected_serial, got: $serial"
personalized=$(ykpersonalize -2 -o oath-hotp -o append-cr -a 3132333435363738393031323334353637383930 -y 2>&1)
if [ $? -eq 0 ]; then
  pass "ykpersonalize -2 -o oath-hotp programmed slot 2"
else
  fail "ykpersonalize: $personalized"
fi
# ykpersonalize detached usbhid for its session and gave the interface back: wait for the node.
wait_for 100 token_present && node=/dev/$(hidraw_of_token)
press_and_read "$node" "the driver read the code from the interrupt endpoint through usbhid and hidraw"

# 7. Detach: the device leaves; libusb reports the arrival and departure to the watcher.
usbip detach -p 0 >/dev/null 2>&1 || fail "usbip detach -p 0 failed"
wait_for 100 bash -c "! [ -e $node ]" && pass "after usbip detach $node is gone" || fail "$node is still there after detach"
wait_for 100 grep -q '"departed"' "$work/watch.out"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
watcher=""
watched=$(tr '\n' ' ' <"$work/watch.out")
if grep -q '"event":"arrived".*"hidraw"' "$work/watch.out" && grep -q '"event":"departed"' "$work/watch.out" &&
  ! grep -q 'polling' "$work/watch.err"; then
  pass "devices --watch saw the arrival and the departure through libusb hot-plug"
else
  fail "devices --watch: $watched; stderr: $(cat "$work/watch.err")"
fi
grep -q 'detached from connection' "$work/sim.log" && pass "the simulator saw the detach" ||
  fail "the simulator did not log the detach: $(cat "$work/sim.log")"

# 8. A second attach works after a detach; SIGTERM then unplugs the token.
usbip attach -r 127.0.0.1 -b 1-1 >/dev/null 2>&1 && wait_for 300 token_present && node=/dev/$(hidraw_of_token) &&
  pass "attached again as $node" || fail "a second attach failed: $(cat "$work/sim.log")"
kill -TERM "$sim"
wait "$sim"
status=$?
sim=""
if [ "$status" -eq 0 ] && wait_for 100 bash -c "! [ -e $node ]"; then
  pass "SIGTERM closed the connection and the kernel removed the device"
else
  fail "after SIGTERM (exit $status) $node is still there: $(cat "$work/sim.log")"
fi

say "$failures failed check(s); the checks took $(since) s"
[ "$failures" -eq 0 ]
