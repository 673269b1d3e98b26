#!/usr/bin/env bash
# A real Redis for the test suite and the benchmarks: Debian's redis-server (7.x), installed when
# missing, run on loopback and a free port with persistence off.
#
#   scripts/redis.sh fetch              install redis-server with apt-get when it is missing
#   scripts/redis.sh start DIR          start a server on a free 127.0.0.1 port with its files in DIR,
#                                       print redis://127.0.0.1:PORT on stdout (the existing URL when
#                                       already running; log: DIR/redis.log)
#   scripts/redis.sh stop DIR           stop it (idempotent)
#   scripts/redis.sh url DIR            print the URL of the running server in DIR (exit 1 when stopped)
#   scripts/redis.sh pause DIR          stop it but keep its port, to start it again with `resume`
#   scripts/redis.sh resume DIR         start it again on the same port
set -euo pipefail

say() { echo "redis: $*" >&2; }
die() { echo "redis: error: $*" >&2; exit 1; }
usage() { sed -n '4,11s/^# \{0,1\}//p' "$0" >&2; exit 2; }

fetch() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    echo "redis: $(redis-server --version | cut -d' ' -f1-3) present"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "redis-server is missing; install it with: sudo apt-get install redis-server"
  say "installing redis-server from Debian ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } \
    || die "apt-get install redis-server failed"
  # The package starts a system service on 6379; the tests run their own servers.
  service redis-server stop >/dev/null 2>&1 || true
  echo "redis: $(redis-server --version | cut -d' ' -f1-3) installed"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

running() { # DIR
  [ -f "$1/port" ] && redis-cli -h 127.0.0.1 -p "$(cat "$1/port")" ping >/dev/null 2>&1
}

launch() { # DIR PORT
  local dir=$1 port=$2
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  die "redis-server did not answer on port $port (log: $dir/redis.log)"
}

halt() { # DIR
  local dir=$1
  [ -f "$dir/redis.pid" ] || return 0
  local pid
  pid=$(cat "$dir/redis.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/redis.pid"
}

[ $# -ge 1 ] || usage
cmd=$1
case $cmd in
  fetch) fetch ;;
  start)
    [ $# -eq 2 ] || usage
    dir=$(mkdir -p "$2" && cd "$2" && pwd)
    command -v redis-server >/dev/null || die "redis-server is missing (scripts/redis.sh fetch)"
    if running "$dir"; then echo "redis://127.0.0.1:$(cat "$dir/port")"; exit 0; fi
    port=$(free_port)
    launch "$dir" "$port"
    echo "$port" >"$dir/port"
    echo "redis://127.0.0.1:$port"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    halt "$2"
    rm -f "$2/port"
    ;;
  url)
    [ $# -eq 2 ] || usage
    running "$2" || exit 1
    echo "redis://127.0.0.1:$(cat "$2/port")"
    ;;
  pause)
    [ $# -eq 2 ] || usage
    halt "$2"
    ;;
  resume)
    [ $# -eq 2 ] || usage
    [ -f "$2/port" ] || die "no paused server in $2"
    launch "$(cd "$2" && pwd)" "$(cat "$2/port")"
    ;;
  *) usage ;;
esac
