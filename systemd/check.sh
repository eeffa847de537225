#!/usr/bin/env bash
# Checks the unit file with `systemd-analyze verify`, its ExecStart pointed at a built binary
# (the installed path need not exist here). A warning fails too.
#   bash systemd/check.sh [path/to/otptoken]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/debug/otptoken}")
command -v systemd-analyze >/dev/null || { echo "systemd-check: systemd-analyze is missing (make setup installs systemd)" >&2; exit 3; }
work=$(mktemp -d /tmp/otptoken-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/local/bin/otptoken|$bin|" systemd/otptoken.service > "$work/otptoken.service"
# The man page is not installed here, so its Documentation= link is not followed.
if ! out=$(systemd-analyze verify --man=no "$work/otptoken.service" 2>&1) || [ -n "$out" ]; then
  echo "systemd-check: systemd-analyze verify complains:" >&2
  echo "$out" >&2
  exit 1
fi
echo "systemd-check: otptoken.service verifies"
