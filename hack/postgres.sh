#!/usr/bin/env bash
# Start, restart or stop a private Postgres on a free loopback port (off the ephemeral range:
# lib.sh's free_port), with its data in STATE_DIR/postgres.
#   hack/postgres.sh start   STATE_DIR  -> writes STATE_DIR/postgres.env (AIDETECT_DATABASE_URL)
#   hack/postgres.sh restart STATE_DIR  -> the same data on the same port: an immediate stop
#                                          (pg_ctl -m immediate, no checkpoint) if it runs, then
#                                          start with crash recovery; also after a kill -9 of
#                                          the postmaster (its pid: first line of data/postmaster.pid)
#   hack/postgres.sh stop    STATE_DIR
# initdb refuses to run as root, so the server runs as the 'postgres' user the package creates.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: postgres.sh start|restart|stop STATE_DIR}
state=${2:?usage: postgres.sh start|restart|stop STATE_DIR}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
dir=$state/postgres
run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)

# pg_start PORT: the postmaster on the data dir, as start and restart both run it.
pg_start() {
  "${run[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $1 -k $dir -c fsync=off -c max_connections=200" start >/dev/null
}

start() {
  [ -x "$PGBIN/initdb" ] || die "Postgres server binaries not found (install the Debian package 'postgresql': hack/install-deps.sh)"
  if [ -f "$dir/postmaster.pid.copy" ] && [ -f "$state/postgres.env" ]; then
    log "postgres already started in $dir"; return
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chmod o+x "$state"   # mktemp dirs are root-only; the postgres user must traverse to its data dir
    chown postgres: "$dir"
  fi
  local port; port=$(free_port)
  echo "$port" > "$dir/port"
  log "postgres: initdb in $dir/data"
  "${run[@]}" "$PGBIN/initdb" -D "$dir/data" -U aidetect --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { tail -20 "$dir/initdb.log" >&2; die "postgres initdb failed"; }
  log "postgres: starting on 127.0.0.1:$port"
  pg_start "$port" || { tail -40 "$dir/pg.log" >&2; die "postgres did not start"; }
  psql -q -h 127.0.0.1 -p "$port" -U aidetect -d postgres -c 'create database aidetect' \
    || die "could not create database aidetect"
  cp "$dir/data/postmaster.pid" "$dir/postmaster.pid.copy"
  echo "export AIDETECT_DATABASE_URL=postgresql://aidetect@127.0.0.1:$port/aidetect" > "$state/postgres.env"
  log "postgres: ready at postgresql://aidetect@127.0.0.1:$port/aidetect"
}

# data_users: live processes working in the data dir: the postmaster and its backends, which
# outlive a killed postmaster for a moment and keep its shared memory (no new postmaster starts).
data_users() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$dir/data" ] && alive "${p#/proc/}" && echo "${p#/proc/}"
  done
  return 0
}

restart() {
  [ -f "$dir/port" ] && [ -f "$state/postgres.env" ] || die "postgres: no server was started in $dir"
  local port pm; port=$(cat "$dir/port"); pm=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pm" ] && alive "$pm"; then
    log "postgres: immediate stop of the postmaster (pid $pm)"
    "${run[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -w -t 30 stop -m immediate >/dev/null
  fi
  local end=$((SECONDS + 30))
  while [ -n "$(data_users)" ] && [ $SECONDS -lt $end ]; do sleep 0.2; done
  [ -z "$(data_users)" ] || die "postgres: processes still use $dir/data after 30s: $(data_users | tr '\n' ' ')"
  # A killed postmaster that nobody reaps stays a zombie, and Postgres takes a lock file naming
  # a zombie for a live server; nothing works in the data dir any more, so the locks are stale.
  rm -f "$dir/data/postmaster.pid" "$dir/.s.PGSQL.$port.lock"
  log "postgres: starting again on 127.0.0.1:$port (crash recovery)"
  pg_start "$port" || { tail -40 "$dir/pg.log" >&2; die "postgres did not come back on port $port"; }
  cp "$dir/data/postmaster.pid" "$dir/postmaster.pid.copy"
  log "postgres: back on 127.0.0.1:$port (postmaster pid $(head -1 "$dir/data/postmaster.pid"))"
}

stop() {
  [ -d "$dir/data" ] || { log "postgres: nothing to stop in $dir"; return; }
  log "postgres: stopping"
  "${run[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -w -t 30 stop -m fast >/dev/null 2>&1 || true
  rm -rf "$dir" "$state/postgres.env"
}

case $cmd in start) start ;; restart) restart ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
