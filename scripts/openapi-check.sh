#!/usr/bin/env bash
# The HTTP API against its own openapi.json: schemathesis (from PyPI, in a venv under .build)
# generates requests for every operation from the document, sends them to `otptoken serve` on
# loopback, and fails on any 5xx or any answer the document does not describe (status, content
# type, body schema, headers, or a method the document does not list that is not answered 405).
# Bounded: at most MAX_EXAMPLES (default 30) generated cases per operation and phase. A run prints
# its seed; OPENAPI_CHECK_ARGS="--seed N" replays it.
#   bash scripts/openapi-check.sh [path/to/otptoken]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/otptoken}
version=4.32.5
venv=.build/schemathesis
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/st" ]; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
work=$(mktemp -d /tmp/otptoken-openapi.XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
db=(--db "$work/v.sqlite")
"$bin" user add --user alice "${db[@]}" >/dev/null 2>&1
key=$("$bin" api-key add --name openapi --scope admin "${db[@]}" 2>/dev/null | tail -1 | awk '{print $NF}')
"$bin" serve "${db[@]}" --port 0 --rate-per-user 0 --rate-per-address 0 --log-level error \
  >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o '"listening":[0-9]*' "$work/serve.out" | grep -o '[0-9]*$')
[ -n "$port" ] || { echo "openapi-check: serve did not start: $(cat "$work/serve.err")" >&2; exit 1; }
# schemathesis keeps a folder of its own in the working directory: the scratch one, not the tree.
st=$PWD/$venv/bin/st
cd "$work"
"$st" run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method \
  --max-examples "${MAX_EXAMPLES:-30}" ${OPENAPI_CHECK_ARGS:-} --workers 1 --no-color 2>&1
