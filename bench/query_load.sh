#!/usr/bin/env bash
# bench/query_load.sh: a quick /query load point on the data bench/api.sh built, for comparing
# settings or builds with interleaved runs (bench/api.sh is the full, recorded benchmark).
# Starts ragd on bench/out/api/ragd-data-10000 with the question cache off, warms up 5 s, runs
# wrk for 10 s at concurrency C, prints req/s, p50/p99 and the server's RSS.
#   C=8                concurrency
#   RAGD=path          the binary (default: $CARGO_TARGET_DIR or target, release)
#   DATA=dir           the data dir (default bench/out/api/ragd-data-10000; builds whose database
#                      migrations differ need a data dir each, ingested from the same corpus)
#   EXTRA="K=V ..."    extra environment for the server (e.g. RAGD_EMBED_STREAMS=1)
#   PERF=1             also `perf record -g` the server for 10 s into /tmp/perf.data
#   PERF_CG="--call-graph dwarf,8192"  call stacks through libraries without frame pointers
#                      (what showed OpenVINO's stream threads making most malloc/free calls)
set -euo pipefail
# The retrieval path is measured with the extractive answer (bench/generation.sh measures models).
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
# ragd runs with its defaults and the settings given here, never a developer's .env.
export RAGD_ENV_FILE=
ragd=${RAGD:-${CARGO_TARGET_DIR:-target}/release/ragd}
data=${DATA:-bench/out/api/ragd-data-10000}
[ -d "$data" ] || { echo "no $data: run bench/api.sh once first" >&2; exit 1; }
port=${PORT:-18555}
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# shellcheck disable=SC2086
env RAGD_DATA_DIR="$data" RAGD_HOST=127.0.0.1 RAGD_PORT="$port" JWT_SECRET_KEY="$secret" \
  RAGD_ADMIN_USERNAME=bench RAGD_ADMIN_PASSWORD=ragd-bench-password LOG_LEVEL=info \
  RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW=1 RAGD_QUERY_CACHE=0 ${EXTRA:-} \
  "$ragd" serve >/tmp/query-load-server.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do
  kill -0 $pid 2>/dev/null || { tail /tmp/query-load-server.log >&2; exit 1; }
  sleep 0.1
done
token=$(curl -s -X POST "http://127.0.0.1:$port/auth/login" -d username=bench -d password=ragd-bench-password |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
load() { BENCH_TOKEN=$token BENCH_QUESTIONS=bench/api/questions.txt wrk -t1 -c"${C:-8}" "$@" \
  -s bench/api/query.lua "http://127.0.0.1:$port/query"; }
load -d5s >/dev/null
perf_pid=
if [ -n "${PERF:-}" ]; then
  read -r -a perf_cg <<<"${PERF_CG:--g}"
  perf record -F 499 "${perf_cg[@]}" -p $pid -o /tmp/perf.data -- sleep 10 >/dev/null 2>&1 &
  perf_pid=$!
fi
load -d10s --latency | grep -E "Requests/sec| 50%| 99%"
[ -z "$perf_pid" ] || wait "$perf_pid"
grep VmRSS /proc/$pid/status
