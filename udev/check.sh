#!/usr/bin/env bash
# Checks the udev rules: the table is sorted and well-formed, the committed rules equal a fresh
# generation, no rule is world-writable, and `udevadm verify` accepts them where it exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
status=0
fail() { echo "udev check: $*" >&2; status=1; }

entries=$(grep -vE '^\s*(#|$)' "$here/tokens.txt")
while read -r vendor product _; do
  [[ $vendor =~ ^[0-9a-f]{4}$ && $product =~ ^[0-9a-f]{4}$ ]] || fail "bad entry: $vendor $product"
done <<<"$entries"
sorted=$(awk '{print $1, $2}' <<<"$entries" | sort -c -u 2>&1) || fail "tokens.txt is not sorted and unique: $sorted"

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
bash "$here/generate.sh" "$fresh"
for rules in 69-otptoken.rules 70-otptoken-plugdev.rules; do
  diff -u "$here/$rules" "$fresh/$rules" >&2 || fail "$rules differs from a fresh generation: run udev/generate.sh"
  grep -q 'MODE="0666"' "$here/$rules" && fail "$rules makes devices world-writable"
done

if command -v udevadm >/dev/null && udevadm verify --help >/dev/null 2>&1; then
  udevadm verify "$here"/*.rules >&2 || fail "udevadm verify refused the rules"
else
  echo "udev check: udevadm verify not available here; syntax checked by regeneration only" >&2
fi
[ $status -eq 0 ] && echo "udev check: ok"
exit $status
