#!/usr/bin/env bash
# The pages in a real browser: Debian's headless chromium through its chromedriver, driven by
# selenium (from PyPI, in a venv under .build; no browser is downloaded). A simulated token, a
# phone app computed by oathtool from the QR code zbarimg reads off the page, recovery codes,
# application passwords and an administrator, all against `otptoken serve` on loopback.
#   bash scripts/browser-check.sh [path/to/otptoken] [screenshot-folder]
# With a screenshot folder (`make screenshots` passes docs/screenshots), the sign-in, the code
# step, the Security page and the administrators' users page are saved there.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/debug/otptoken}")
shots=${2:-}
version=4.27.1
venv=.build/selenium
for tool in chromium chromedriver zbarimg oathtool; do
  command -v "$tool" >/dev/null || { echo "browser-check: $tool is missing (make setup installs it)" >&2; exit 3; }
done
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if ! "$venv/bin/python" -c "import selenium" 2>/dev/null; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q "selenium==$version"
fi
# alice: a password and a simulated USB token; bob: a password and a phone app; root: an administrator.
source scripts/lib/alice-with-token.sh browser
echo "bob's password" | "$bin" user add --user bob --password-stdin 2>/dev/null
echo "root's password" | "$bin" user add --user root --password-stdin 2>/dev/null
"$bin" user groups --user root --groups admins 2>/dev/null

"$bin" serve --port 0 --log-level error > "$work/serve.out" 2> "$work/serve.err" &
server=$!
for _ in $(seq 200); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -E 's/.*"listening":([0-9]+).*/\1/' "$work/serve.out")
[ -n "$port" ] || { echo "browser-check: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }

OTPTOKEN_BIN="$bin" TOKEN_SOCKET="$sock" BASE_URL="http://127.0.0.1:$port" WORK="$work" SHOTS="$shots" \
  SE_OFFLINE=true "$venv/bin/python" Tests/Browser/flow.py
