#!/usr/bin/env bash
# A real Chroma server for the test suite (issue 13: ragd's vectors in Chroma), from PyPI and
# otherwise offline: `chroma run` of the chromadb wheel, in a venv of its own.
#
#   scripts/chroma.sh fetch        make the venv models/chroma/venv with chromadb==1.5.9 (idempotent)
#   scripts/chroma.sh start DIR    run `chroma run --path DIR/data` on a free 127.0.0.1 port in the
#                                  background, wait until its heartbeat answers, write DIR/pid and
#                                  DIR/url and print http://127.0.0.1:PORT on stdout (prints the
#                                  existing URL when already running; log: DIR/chroma.log)
#   scripts/chroma.sh stop DIR     stop it (SIGTERM, SIGKILL after 10 s; idempotent)
#   scripts/chroma.sh url DIR      print the URL of the running server in DIR (exit 1 when stopped)
#
# RAGD_CHROMA_VENV overrides the venv (default: models/chroma/venv in the repository); PYTHON the
# interpreter that makes it (default python3). The server is for tests: loopback only, no auth.
set -euo pipefail

chroma_version=1.5.9
python=${PYTHON:-python3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${RAGD_CHROMA_VENV:-$root/models/chroma/venv}
stamp="$venv/.installed-chromadb-$chroma_version"

say() { echo "chroma: $*" >&2; }
die() { echo "chroma: error: $*" >&2; exit 1; }
usage() { sed -n '5,11s/^# \{0,1\}//p' "$0" >&2; exit 2; }

installed() { [ -f "$stamp" ] && [ -x "$venv/bin/chroma" ]; }

fetch() { # make the venv; idempotent, safe to run concurrently
  mkdir -p "$(dirname "$venv")"
  exec 8>"$(dirname "$venv")/.chroma.lock"
  flock 8
  if installed; then
    echo "chroma: chromadb $chroma_version present in $venv"
    exec 8>&-
    return 0
  fi
  "$python" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$python cannot make a venv (apt-get install python3-venv)"
  say "installing chromadb==$chroma_version from PyPI into $venv (about 500 MB) ..."
  rm -rf "$venv"
  "$python" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "chromadb==$chroma_version" >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    cat >&2 <<MSG

error: could not install chromadb==$chroma_version from PyPI.
  The Chroma tests need a Chroma server. Run 'scripts/chroma.sh fetch' on a machine that reaches
  PyPI and copy '$venv/' here (or point RAGD_CHROMA_VENV at such a venv).
MSG
    exit 1
  fi
  [ -x "$venv/bin/chroma" ] || die "chromadb $chroma_version installed no 'chroma' command in $venv/bin"
  touch "$stamp"
  exec 8>&-
  echo "chroma: chromadb $chroma_version ready in $venv"
}

setup_dir() { # DIR: absolute paths and the lock
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  dir=$(cd "$1" && pwd -P)
  log=$dir/chroma.log
  exec 9>>"$dir/.lock"
  flock 9
}

alive() { # the pid in DIR is a running chroma (not a process that reused the number)
  [ -f "$dir/pid" ] && grep -qa chroma "/proc/$(cat "$dir/pid")/cmdline" 2>/dev/null
}

answers() { # URL: the heartbeat answers
  if command -v curl >/dev/null; then
    curl -fsS --max-time 2 "$1/api/v2/heartbeat" >/dev/null 2>&1
  else
    "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$1/api/v2/heartbeat" >/dev/null 2>&1
  fi
}

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 30000))
}

start() {
  setup_dir "${1:-}"
  if alive && [ -f "$dir/url" ] && answers "$(cat "$dir/url")"; then
    say "already running in $dir"
    cat "$dir/url"
    return 0
  fi
  installed || fetch >&2
  rm -f "$dir/pid" "$dir/url"
  local attempt port url pid logsize started=
  for attempt in 1 2 3 4 5; do # the free port can be taken before chroma binds it
    port=$(free_port)
    url="http://127.0.0.1:$port"
    touch "$log"
    logsize=$(stat -c %s "$log")
    # No telemetry from a test server; the lock is not inherited.
    ANONYMIZED_TELEMETRY=False nohup "$venv/bin/chroma" run --path "$dir/data" --host 127.0.0.1 \
      --port "$port" >>"$log" 2>&1 </dev/null 9>&- &
    pid=$!
    for _ in $(seq 1 600); do # up to 60 s: the first start creates its database
      if answers "$url"; then started=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$started" ] && break
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      tail -n 20 "$log" >&2
      die "chroma did not answer $url/api/v2/heartbeat within 60 s (log: $log)"
    fi
    tail -c +$((logsize + 1)) "$log" | grep -qiE 'address.*(in use|is not available)' || break
    say "port $port was taken (attempt $attempt); retrying"
  done
  if [ -z "$started" ]; then
    tail -n 20 "$log" >&2
    die "could not start chroma in $dir (log: $log)"
  fi
  echo "$pid" >"$dir/pid"
  echo "$url" >"$dir/url.tmp"
  mv "$dir/url.tmp" "$dir/url"
  echo "$url"
}

stop() {
  [ -n "${1:-}" ] || usage
  if [ ! -d "$1" ]; then say "not running ($1 does not exist)"; return 0; fi
  setup_dir "$1"
  if ! alive; then
    rm -f "$dir/pid" "$dir/url"
    say "not running ($dir)"
    return 0
  fi
  local pid
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 10 s; SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid" "$dir/url"
  say "stopped ($dir)"
}

url() {
  [ -n "${1:-}" ] || usage
  [ -d "$1" ] || die "no server running in $1 (it does not exist)"
  setup_dir "$1"
  if alive && [ -f "$dir/url" ] && answers "$(cat "$dir/url")"; then
    cat "$dir/url"
    return 0
  fi
  die "no server running in $dir (scripts/chroma.sh start $1)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  url) url "${2:-}" ;;
  *) usage ;;
esac
