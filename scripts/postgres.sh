#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests, reachable only through a Unix socket in its own
# temporary directory (no TCP port, so nothing else on the machine can reach it or clash with it).
#
#   scripts/postgres.sh start DIR     initialise and start; prints the URL to connect with
#   scripts/postgres.sh restart DIR   restart (fast mode), as the cluster test does to cut connections
#   scripts/postgres.sh stop DIR      stop and remove DIR
#   scripts/postgres.sh run CMD...    start one, export OTPTOKEN_TEST_POSTGRES, run CMD, stop it
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the 'postgres' user.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "postgres: no PostgreSQL server installed (scripts/setup.sh installs it)" >&2
  exit 3
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir=$1
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-instructions >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 3
  }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=300 -c shared_buffers=64MB" \
    start >/dev/null || {
    cat "$dir/server.log" >&2
    exit 3
  }
  echo "postgres://postgres@/postgres?host=$dir"
}

case "${1:-}" in
start) start "$2" ;;
restart) as_owner "$bin/pg_ctl" -D "$2/data" -l "$2/server.log" -m fast -w -t 60 restart >/dev/null ;;
stop)
  as_owner "$bin/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$2"
  ;;
run)
  shift
  dir=$(mktemp -d /tmp/otptoken-pg.XXXXXX)
  chmod 755 "$dir"
  trap 'bash "$0" stop "$dir"' EXIT
  url=$(start "$dir")
  echo "postgres: throw-away cluster at $dir" >&2
  OTPTOKEN_TEST_POSTGRES=$url OTPTOKEN_REQUIRE_POSTGRES=1 "$@"
  ;;
*)
  echo "usage: $0 start|restart|stop DIR, or $0 run COMMAND..." >&2
  exit 2
  ;;
esac
