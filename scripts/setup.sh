#!/usr/bin/env bash
# Installs the Debian packages otptoken builds and tests with, when they are missing.
# Safe to run again: it only calls apt-get when a package is absent. Works as root or with sudo.
set -euo pipefail

packages=(pkg-config libhidapi-dev libhidapi-hidraw0 libusb-1.0-0-dev libsqlite3-dev libqrencode-dev libssl-dev
  oathtool zbar-tools faketime postgresql postgresql-client chromium chromium-driver
  freeradius-utils libpam-radius-auth pamtester libpam-wrapper openssl curl systemd)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 3; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
