#!/usr/bin/env bash
# with-services.sh COMMAND...: runs COMMAND with every server the test suite needs, each fresh, on
# loopback and a free port, and stops them afterwards whatever COMMAND's outcome:
#   PostgreSQL + pgvector (scripts/postgres.sh)  -> RAGD_TEST_DATABASE_URL
#   Redis (scripts/redis.sh)                     -> RAGD_TEST_REDIS_URL
#   Chroma (scripts/chroma.sh)                   -> RAGD_TEST_CHROMA_URL
#   Prometheus, promtool (scripts/prometheus.sh) -> RAGD_TEST_PROMETHEUS, RAGD_TEST_PROMTOOL (binaries;
#                                                   the observability tests start Prometheus themselves)
# nginx is started by the fleet tests themselves (each with its own upstreams).
# `make test` runs the test suite this way, so two runs on one machine never share a server.
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 COMMAND..." >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d "${TMPDIR:-/var/tmp}/ragd-test-services.XXXXXX")"
chmod 755 "$dir"
cleanup() {
    "$here/chroma.sh" stop "$dir/chroma" >/dev/null 2>&1 || true
    "$here/redis.sh" stop "$dir/redis" >/dev/null 2>&1 || true
    "$here/postgres.sh" stop "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/pg" "$dir/redis" "$dir/chroma"
chmod 777 "$dir/pg"
pg="$("$here/postgres.sh" start "$dir/pg")"
redis="$("$here/redis.sh" start "$dir/redis")"
chroma="$("$here/chroma.sh" start "$dir/chroma")"
echo "services for the tests: PostgreSQL $pg, Redis $redis, Chroma $chroma (files in $dir)" >&2
RAGD_TEST_PROMETHEUS="$("$here/prometheus.sh" path prometheus)" \
    || { echo "with-services: no prometheus (scripts/prometheus.sh fetch)" >&2; exit 1; }
RAGD_TEST_PROMTOOL="$("$here/prometheus.sh" path promtool)" \
    || { echo "with-services: no promtool (scripts/prometheus.sh fetch)" >&2; exit 1; }
export RAGD_TEST_PROMETHEUS RAGD_TEST_PROMTOOL
RAGD_TEST_OTLP_PYTHON="$("$here/otlp-receiver.sh" python)"; export RAGD_TEST_OTLP_PYTHON # OTLP receiver of tests/api/otel.rs
RAGD_TEST_DATABASE_URL="$pg" RAGD_TEST_REDIS_URL="$redis" RAGD_TEST_CHROMA_URL="$chroma" "$@"
