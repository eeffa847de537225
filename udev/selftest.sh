#!/usr/bin/env bash
# Shows that udev/check.sh fails when it should: an unsorted table, and a rule edited by hand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -r "$here" "$work/unsorted"
{ head -1 "$here/tokens.txt"; tail -n +2 "$here/tokens.txt" | sort -r; } >"$work/unsorted/tokens.txt"
if bash "$work/unsorted/check.sh" 2>/dev/null; then echo "selftest: an unsorted table passed" >&2; exit 1; fi

cp -r "$here" "$work/edited"
sed -i 's/ENV{ID_SECURITY_TOKEN}="1"/MODE="0666"/' "$work/edited/69-otptoken.rules"
if bash "$work/edited/check.sh" 2>/dev/null; then echo "selftest: a hand-edited rule passed" >&2; exit 1; fi
echo "udev selftest: ok (the check refuses an unsorted table and a hand-edited rule)"
