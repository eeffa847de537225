#!/usr/bin/env bash
# The real-kernel lane: boots a small VM (virtme-ng over qemu, Debian's kernel, this machine's
# files shared read-only) and runs two parts there. scripts/uhid-lane-guest.sh makes the simulated
# token a /dev/hidraw device through UHID and drives it with the driver's real hidapi back-end;
# scripts/usbip-lane-guest.sh attaches it as a USB device over USB/IP (vhci-hcd) and drives it with
# hidapi, libusb hot-plug, udev and Yubico's ykinfo and ykpersonalize. The build machines' own
# kernel has neither UHID nor USB, hence the VM; README.md ("The real-kernel lane") says more.
#
#   scripts/uhid-lane.sh [OTPTOKEN_BINARY]     default .build/debug/otptoken
#
# Installs what it needs (Debian packages, virtme-ng in a venv under .build/uhid-lane). Where it
# cannot (not Linux x86-64, not root and no sudo, no apt), it says so and exits 0, unless
# OTPTOKEN_REQUIRE_UHID_LANE=1. Otherwise a failed check inside the VM fails the build.
# UHID_LANE_BREAK=1 makes one expectation of each part wrong on purpose. The USB/IP part leaves
# what the kernel sent the simulator in .build/uhid-lane/out/usbip-attach.trace.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/.build/debug/otptoken}")
lane=$root/.build/uhid-lane
virtme_version=1.42
began=$(date +%s.%N)
since() { printf '%.1f' "$(echo "$(date +%s.%N) - $1" | bc)"; }

skip() {
  echo "uhid-lane: SKIPPED: $*" >&2
  [ "${OTPTOKEN_REQUIRE_UHID_LANE:-0}" = 1 ] && exit 3
  exit 0
}

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || skip "needs Linux on x86-64, this is $(uname -s)/$(uname -m)"
[ -x "$bin" ] || {
  echo "uhid-lane: no binary at $bin (run swift build first)" >&2
  exit 3
}
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo -n true 2>/dev/null || skip "needs root or password-less sudo (to install packages and own /dev/uhid in the VM)"
  sudo="sudo -n"
fi

# --- setup: what the VM needs, installed when missing -------------------------------------------
packages=()
command -v qemu-system-x86_64 >/dev/null || packages+=(qemu-system-x86)
[ -x /bin/busybox ] || packages+=(busybox-static)
command -v file >/dev/null || packages+=(file)
command -v bc >/dev/null || packages+=(bc)
command -v setpriv >/dev/null || packages+=(util-linux)
[ -x /usr/bin/python3 ] || packages+=(python3)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
# The USB/IP part: Debian's usbip, lsusb, Yubico's libusb tools, and udev to run in the guest.
command -v usbip >/dev/null || packages+=(usbip)
command -v lsusb >/dev/null || packages+=(usbutils)
command -v ykpersonalize >/dev/null || packages+=(yubikey-personalization)
[ -x /lib/systemd/systemd-udevd ] || packages+=(udev)
# A kernel to boot. Only where none is installed (a CI image, whose kernel is the host's, not from
# /boot) is Debian's added with tiny-initramfs; a machine booting its own /boot is left alone.
if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then packages+=(linux-image-amd64 tiny-initramfs); fi
if [ ${#packages[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || skip "needs Debian's apt-get to install: ${packages[*]}"
  echo "uhid-lane: installing ${packages[*]}" >&2
  $sudo apt-get update -qq >/dev/null || skip "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" \
    >"$root/.build/uhid-lane-apt.log" 2>&1 || skip "apt-get install failed (see .build/uhid-lane-apt.log)"
fi
if [ ! -x "$lane/venv/bin/vng" ]; then
  rm -rf "$lane/venv"
  mkdir -p "$lane"
  /usr/bin/python3 -m venv "$lane/venv" && "$lane/venv/bin/pip" install -q "virtme-ng==$virtme_version" >&2 ||
    skip "could not install virtme-ng $virtme_version from PyPI"
fi
export PATH="$lane/venv/bin:$PATH" # vng runs virtme-run by name
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -1)
[ -r "$kernel" ] || skip "cannot read $kernel"
# /dev/kvm here may be a PVM device that cannot run a stock kernel: emulate unless the CPU has VT.
accel=--disable-kvm
grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && accel=""
setup_seconds=$(since "$began")

# --- the lane -----------------------------------------------------------------------------------
out=$lane/out
rm -rf "$out"
mkdir -p "$out"
echo "uhid-lane: booting $(basename "$kernel") (${accel:-KVM}) to run the driver against a UHID token" >&2
booted=$(date +%s.%N)
guest="export UHID_LANE_BREAK=${UHID_LANE_BREAK:-0}; { bash $root/scripts/uhid-lane-guest.sh $bin; u=\$?;"
guest+=" echo '--- USB/IP'; bash $root/scripts/usbip-lane-guest.sh $bin $out/usbip-attach.trace; v=\$?; }"
guest+=" > $out/lane.log 2>&1; [ \$u -ne 0 ] && echo \$u > $out/rc || echo \$v > $out/rc"
# The guest cannot hand back stdout or its exit status without udev: both come through --rwdir.
# qemu re-opens its stdout, so the console goes through cat.
set +e
timeout 420 $sudo env PATH="$PATH" vng $accel --memory 2G --rwdir "$out" --run "$kernel" -e "$guest" 2>&1 |
  cat >"$lane/console.log"
set -e
lane_seconds=$(since "$booted")
cat "$out/lane.log" 2>/dev/null || true
if [ ! -s "$out/rc" ]; then
  echo "uhid-lane: the VM ended without a result; its console:" >&2
  tail -30 "$lane/console.log" >&2
  status=3
else
  status=$(cat "$out/rc")
fi
checks=$(sed -n 's/.*the checks took \([0-9.]*\) s$/\1/p' "$out/lane.log" 2>/dev/null | paste -sd+ -)
echo "uhid-lane: exit $status; checks in the VM ${checks:-?} s, boot and checks ${lane_seconds} s," \
  "setup ${setup_seconds} s, total $(since "$began") s" >&2
exit "$status"
