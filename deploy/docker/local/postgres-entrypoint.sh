#!/bin/sh
# First start: initdb with the password from POSTGRES_PASSWORD(_FILE), scram on the network,
# the database POSTGRES_DB; then exec the server (as the official image does).
# Like the official 18+ image, it refuses to start when the default PGDATA
# (/var/lib/postgresql/18/docker) holds no cluster but the pre-18 path /var/lib/postgresql/data
# is a mount or holds data: that volume would otherwise sit unused beside a new empty cluster.
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE"); fi
old=/var/lib/postgresql/data
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ] \
  && [ "$PGDATA" = "/var/lib/postgresql/${PG_MAJOR:-18}/docker" ] \
  && { awk -v m="$old" '$5 == m {found = 1} END {exit !found}' /proc/self/mountinfo \
       || { [ -d "$old" ] && [ -n "$(ls -A "$old" 2>/dev/null)" ]; }; }; then
  cat >&2 <<MSG
Error: in 18+, PostgreSQL data is kept in $PGDATA (a major-version
       directory under the volume /var/lib/postgresql), but there is a mount or data at
         $old (unused mount/volume)
       Mount the volume at /var/lib/postgresql instead (docker-library/postgres#1259).
MSG
  exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$db" != postgres ]; then createdb -U "$user" "$db"; fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres: initialised $PGDATA (user $user, database $db)"
fi
if [ "${1:-}" = postgres ]; then
  shift
  exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
