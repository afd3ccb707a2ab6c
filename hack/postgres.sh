#!/usr/bin/env bash
# Start or stop a private Postgres on a free loopback port, with its data in STATE_DIR/postgres.
#   hack/postgres.sh start STATE_DIR   -> writes STATE_DIR/postgres.env (AIDETECT_DATABASE_URL)
#   hack/postgres.sh stop  STATE_DIR
# initdb refuses to run as root, so the server runs as the 'postgres' user the package creates.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: postgres.sh start|stop STATE_DIR}; state=${2:?usage: postgres.sh start|stop STATE_DIR}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
dir=$state/postgres

start() {
  [ -x "$PGBIN/initdb" ] || die "Postgres server binaries not found (install the Debian package 'postgresql': hack/install-deps.sh)"
  if [ -f "$dir/postmaster.pid.copy" ] && [ -f "$state/postgres.env" ]; then
    log "postgres already started in $dir"; return
  fi
  mkdir -p "$dir"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chmod o+x "$state"   # mktemp dirs are root-only; the postgres user must traverse to its data dir
    chown postgres: "$dir"; run=(runuser -u postgres --)
  fi
  local port; port=$(free_port)
  log "postgres: initdb in $dir/data"
  "${run[@]}" "$PGBIN/initdb" -D "$dir/data" -U aidetect --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { tail -20 "$dir/initdb.log" >&2; die "postgres initdb failed"; }
  log "postgres: starting on 127.0.0.1:$port"
  "${run[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
    || { tail -40 "$dir/pg.log" >&2; die "postgres did not start"; }
  psql -q -h 127.0.0.1 -p "$port" -U aidetect -d postgres -c 'create database aidetect' \
    || die "could not create database aidetect"
  cp "$dir/data/postmaster.pid" "$dir/postmaster.pid.copy"
  echo "export AIDETECT_DATABASE_URL=postgresql://aidetect@127.0.0.1:$port/aidetect" > "$state/postgres.env"
  log "postgres: ready at postgresql://aidetect@127.0.0.1:$port/aidetect"
}

stop() {
  [ -d "$dir/data" ] || { log "postgres: nothing to stop in $dir"; return; }
  local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  log "postgres: stopping"
  "${run[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -w -t 30 stop -m fast >/dev/null 2>&1 || true
  rm -rf "$dir" "$state/postgres.env"
}

case $cmd in start) start ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
