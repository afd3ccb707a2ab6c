#!/bin/bash
# The official postgres image's start-up contract, in short: on an empty PGDATA, initdb with
# POSTGRES_USER and POSTGRES_PASSWORD (scram-sha-256 over TCP, trust on the local socket), create
# POSTGRES_DB, then run postgres listening on every address of the pod.
set -euo pipefail
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:?PGDATA must be set}"
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
# As the official entrypoint does on every start: a volume's fsGroup may have widened the mode,
# and postgres refuses a data directory that the group can write.
if [ -d "$PGDATA" ]; then chmod 700 "$PGDATA"; fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set for a new database}"
  echo "entrypoint: initialising $PGDATA for user $POSTGRES_USER"
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  printf "host all all all scram-sha-256\n" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "entrypoint: database $POSTGRES_DB created"
fi
shift || true
exec postgres -c listen_addresses='*' "$@"
