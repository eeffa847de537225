#!/usr/bin/env bash
# The protocols other software asks over, each with a real client from Debian's packages, against
# `otptoken serve --config` on loopback with a simulated token:
#   /validate/check and /validate/radiuscheck with curl, in all three forms;
#   RADIUS with radclient (freeradius-utils): the challenge, a replay, a wrong secret, a missing
#     Message-Authenticator;
#   PAM with pamtester and pam_radius_auth, run without root under libpam-wrapper;
#   HTTPS with a throw-away certificate (openssl), a plain-HTTP refusal and a SIGHUP reload.
#   bash scripts/protocols-check.sh [path/to/otptoken]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/debug/otptoken}")
for tool in radclient pamtester openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "protocols-check: $tool is missing (make setup installs it)" >&2; exit 3; }
done
wrapper=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so
[ -f "$wrapper" ] || wrapper=$(find /usr/lib -name libpam_wrapper.so | head -1)
radius_module=$(find /lib /usr/lib -name pam_radius_auth.so | head -1)
[ -f "$wrapper" ] && [ -n "$radius_module" ] || { echo "protocols-check: libpam-wrapper or libpam-radius-auth is missing" >&2; exit 3; }

# alice: a password and a simulated USB token.
source scripts/lib/alice-with-token.sh protocols
failures=0
check() {  # description, then a command that must succeed
  local what=$1
  shift
  if "$@" >"$work/last" 2>&1; then echo "  ok: $what"; else echo "  FAILED: $what" >&2; sed 's/^/    /' "$work/last" >&2; failures=$((failures + 1)); fi
}

# A throw-away certificate for 127.0.0.1.
cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
}
cert first
secret=radius-secret-for-tests
cat > "$work/otptoken.yaml" <<EOF
listen:
  host: 127.0.0.1
  port: 0
tls:
  certificate: $work/cert.pem
  key: $work/key.pem
log_level: error
validate:
  callers:
    - network: 127.0.0.1
      pass: password
    # A caller that checks the password itself sends the code alone.
    - network: 127.0.0.3
      pass: code
radius:
  host: 127.0.0.1
  port: 0
  clients:
    - network: 127.0.0.1
      secret: $secret
    # Debian 12's pam_radius_auth (2.0) sends no Message-Authenticator; it asks from 127.0.0.2.
    - network: 127.0.0.2
      secret: $secret
      require_message_authenticator: false
EOF
chmod 600 "$work/otptoken.yaml"
"$bin" serve --config "$work/otptoken.yaml" > "$work/serve.out" 2> "$work/serve.err" &
server=$!
for _ in $(seq 200); do grep -q listening "$work/serve.out" 2>/dev/null && grep -q radius "$work/serve.out" && break; sleep 0.05; done
port=$(grep -o '"listening":[0-9]*' "$work/serve.out" | grep -o '[0-9]*$' || true)
radius=$(grep -o '"radius":[0-9]*' "$work/serve.out" | grep -o '[0-9]*$' || true)
[ -n "$port" ] && [ -n "$radius" ] || { echo "protocols-check: serve did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
base="https://127.0.0.1:$port"
https() { curl -s --cacert "$work/cert.pem" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "/validate/check"
answer=$(https -d user=alice -d pass="correct horse" "$base/validate/check")
tid=$(json "d['detail']['transaction_id']" <<<"$answer")
check "the password alone is answered with a challenge" \
  test "$(json "d['result']['value'], d['result']['authentication']" <<<"$answer")" = "False CHALLENGE"
code=$(press)
check "the code with the transaction is accepted" \
  test "$(https -d user=alice -d pass="$code" -d transaction_id="$tid" "$base/validate/check" | json "d['result']['value']")" = True
check "a transaction is single-use" \
  test "$(https -d user=alice -d pass="$(press)" -d transaction_id="$tid" "$base/validate/check" | json "d['result']['value']")" = False
answer=$(https -H 'Content-Type: application/json' -d '{"user":"alice","pass":"correct horse"}' "$base/validate/check")
tid=$(json "d['detail']['transaction_id']" <<<"$answer")
check "a transaction is bound to its user" \
  test "$(https -d user=bob -d pass="$(press)" -d transaction_id="$tid" "$base/validate/check" | json "d['result']['value']")" = False
code=$(press)
check "password and code in one field (PIN+OTP) are accepted" \
  test "$(https -d user=alice --data-urlencode "pass=correct horse$code" "$base/validate/check" | json "d['result']['authentication']")" = ACCEPT
check "the same again is a replay, refused" \
  test "$(https -d user=alice --data-urlencode "pass=correct horse$code" "$base/validate/check" | json "d['result']['value']")" = False
check "a caller that checks the password sends the code alone" \
  test "$(https --interface 127.0.0.3 -d user=alice -d pass="$(press)" "$base/validate/check" | json "d['result']['authentication']")" = ACCEPT
check "an address no caller has is refused" \
  test "$(https --interface 127.0.0.4 -o /dev/null -w '%{http_code}' -d user=alice -d pass=x "$base/validate/check")" = 403
check "/validate/radiuscheck answers 204 on success" \
  test "$(https -o /dev/null -w '%{http_code}' -d user=alice --data-urlencode "pass=correct horse$(press)" "$base/validate/radiuscheck")" = 204
check "/validate/radiuscheck answers 400 otherwise" \
  test "$(https -o /dev/null -w '%{http_code}' -d user=alice -d pass=wrong "$base/validate/radiuscheck")" = 400
check "a missing parameter is privacyIDEA's error 905" \
  test "$(https -d user=alice "$base/validate/check" | json "d['result']['error']['code']")" = 905

echo "RADIUS (radclient)"
rad() { radclient -r 1 -t 3 -x "127.0.0.1:$radius" auth "${2:-$secret}" <<<"$1" 2>&1 || true; }
out=$(rad 'User-Name = "alice", User-Password = "correct horse", Message-Authenticator = 0x00')
state=$(grep -o 'State = 0x[0-9a-f]*' <<<"$out" | awk '{print $3}')
check "the password is answered with Access-Challenge and a prompt" \
  grep -q 'Received Access-Challenge.*' <<<"$out"
code=$(press)
check "the code with the State is accepted" \
  grep -q 'Received Access-Accept' <<<"$(rad "User-Name = \"alice\", User-Password = \"$code\", State = $state, Message-Authenticator = 0x00")"
out=$(rad 'User-Name = "alice", User-Password = "correct horse", Message-Authenticator = 0x00')
state=$(grep -o 'State = 0x[0-9a-f]*' <<<"$out" | awk '{print $3}')
check "a replayed code is rejected" \
  grep -q 'Received Access-Reject' <<<"$(rad "User-Name = \"alice\", User-Password = \"$code\", State = $state, Message-Authenticator = 0x00")"
check "a wrong shared secret is dropped, unanswered" \
  grep -q 'No reply' <<<"$(rad 'User-Name = "alice", User-Password = "correct horse", Message-Authenticator = 0x00' wrong-secret-entirely)"
check "a request without Message-Authenticator is dropped, unanswered" \
  grep -q 'No reply' <<<"$(rad 'User-Name = "alice", User-Password = "correct horse"')"

echo "PAM (pamtester, pam_radius_auth)"
mkdir -p "$work/pam.d"
printf '127.0.0.1:%s %s 3 127.0.0.2\n' "$radius" "$secret" > "$work/pam_radius_auth.conf"
chmod 600 "$work/pam_radius_auth.conf"
cat > "$work/pam.d/otptoken" <<EOF
auth     required  $radius_module conf=$work/pam_radius_auth.conf
account  required  pam_permit.so
EOF
pam() {  # the lines typed at the prompts
  printf '%s\n' "$@" | LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
    pamtester otptoken alice authenticate 2>&1
}
code=$(press)
out=$(pam "correct horse" "$code" || true)
check "a password and a token press are accepted" grep -q 'successfully authenticated' <<<"$out"
check "the code prompt shows the server's text" grep -q 'Enter the code from your token or phone app' <<<"$out"
check "the replayed press is refused" grep -q 'Authentication failure\|failed' <<<"$(pam "correct horse" "$code" || true)"
check "a wrong password is refused" grep -q 'Authentication failure\|failed' <<<"$(pam "wrong" "$(press)" || true)"

echo "TLS"
check "plain HTTP on the TLS port is refused with a hint" \
  grep -q 'speaks HTTPS' <<<"$(curl -s "http://127.0.0.1:$port/health")"
check "the first certificate is served" \
  grep -q 'CN *= *first' <<<"$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -subject)"
cert second
kill -HUP "$server"
for _ in $(seq 100); do
  openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -subject | grep -q second && break
  sleep 0.05
done
check "SIGHUP serves the renewed certificate" \
  grep -q 'CN *= *second' <<<"$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -subject)"
check "the health check answers over HTTPS" grep -q ok <<<"$(https "$base/health")"

echo "Configuration"
printf 'listen:\n  port: 8080\nverifier:\n  look_ahead: 0\n' > "$work/bad.yaml"
check "an error in the file names its line" \
  grep -q 'bad.yaml:4:' <<<"$("$bin" serve --config "$work/bad.yaml" 2>&1 || true)"

[ "$failures" -eq 0 ] || { echo "protocols-check: $failures check(s) failed" >&2; exit 1; }
echo "protocols-check: every check passed"
