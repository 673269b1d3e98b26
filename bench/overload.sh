#!/usr/bin/env bash
# bench/overload.sh (make bench-overload): cold POST /query (question cache off) on bench/api.sh's
# 10,000 chunks at rising concurrency, with load shedding (RAGD_QUEUE_BUDGET_MS, the default
# budget unless BUDGET says otherwise) and without it (RAGD_QUEUE_BUDGET_MS=0): throughput, the
# share of questions shed (503 + Retry-After), p50/p99 of the answered ones and of the shed ones,
# and the server's RSS. wrk runs one connection per thread so each response is timed on its own
# (bench/api/query.lua with BENCH_LAT_DIR).
#   LEVELS="1 8 32 64 256"  DURATION=10  BUDGET=""  (ms; empty: ragd's default)
#   SHEDDING="on off"  which of the two servers to run
#   RETRY_AFTER=0      1: a refused client waits for its Retry-After before asking again, as a
#                      well-behaved client does (0: it asks again at once, the harder case)
#   RAGD_BIN=path (default: built here, release)
# Results: JSON lines in bench/out/overload.jsonl, a table on stdout.
set -euo pipefail
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE=
root=$PWD
work=$root/bench/out/api
data=$work/ragd-data-10000
levels=${LEVELS:-1 8 32 64 256}
duration=${DURATION:-10}
budget=${BUDGET:-}
modes=${SHEDDING:-on off}
retry_after=${RETRY_AFTER:-0}
out=$root/bench/out/overload.jsonl
run_id=overload-$(date -u +%Y%m%dT%H%M%SZ)
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_MAX_RESULTS=5 BENCH_THRESHOLD=0.7 BENCH_QUESTIONS=$root/bench/api/questions.txt

say() { printf '== %s\n' "$*" >&2; }
[ -d "$data" ] || { echo "no $data: run 'make bench-api' once first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
ragd=${RAGD_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/ragd}
if [ -z "${RAGD_BIN:-}" ]; then
  say "cargo build --release -p ragd-server"
  cargo build -q --release -p ragd-server
fi

pid=
lat=$(mktemp -d)
stop() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  pid=
}
trap 'stop; rm -rf "$lat"' EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

for shedding in $modes; do
  port=$(free_port)
  extra=()
  if [ "$shedding" = off ]; then extra=(RAGD_QUEUE_BUDGET_MS=0); elif [ -n "$budget" ]; then extra=(RAGD_QUEUE_BUDGET_MS="$budget"); fi
  env "${extra[@]}" RAGD_DATA_DIR="$data" RAGD_HOST=127.0.0.1 RAGD_PORT="$port" JWT_SECRET_KEY="$secret" \
    RAGD_ADMIN_USERNAME=bench RAGD_ADMIN_PASSWORD=ragd-bench-password LOG_LEVEL=warn \
    RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW=1 RAGD_QUERY_CACHE=0 \
    "$ragd" serve >"$work/server-overload.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready"; do
    kill -0 "$pid" 2>/dev/null || { tail "$work/server-overload.log" >&2; exit 1; }
    sleep 0.05
  done
  token=$(curl -s -X POST "http://127.0.0.1:$port/auth/login" -d username=bench -d password=ragd-bench-password |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
  BENCH_TOKEN=$token wrk -t2 -c8 -d5s -s bench/api/query.lua "http://127.0.0.1:$port/query" >/dev/null 2>&1 || true
  for c in $levels; do
    rm -f "$lat"/*.txt
    say "shedding $shedding, c=$c"
    BENCH_TOKEN=$token BENCH_LAT_DIR=$lat BENCH_RETRY_AFTER=$retry_after wrk -t"$c" -c"$c" -d"${duration}s" --timeout 30s \
      -s bench/api/query.lua "http://127.0.0.1:$port/query" >"$work/wrk-overload.txt" 2>&1 || true
    rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
    python3 - "$lat" "$run_id" "$shedding" "$c" "$duration" "$rss" "${budget:-default}" "$retry_after" <<'PY' | tee -a "$out"
import glob, json, sys
lat_dir, run, shedding, c, duration, rss, budget, retry_after = sys.argv[1:]
answered, shed, other = [], [], 0
for path in glob.glob(lat_dir + "/*.txt"):
    for line in open(path):
        parts = line.split()
        if len(parts) != 2:
            continue
        status, us = int(parts[0]), float(parts[1]) / 1000
        if status == 200:
            answered.append(us)
        elif status == 503:
            shed.append(us)
        else:
            other += 1
def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))], 2) if xs else None
total = len(answered) + len(shed) + other
d = float(duration)
print(json.dumps({"bench": "overload", "run": run, "shedding": shedding, "budget_ms": budget,
    "clients_wait_retry_after": retry_after == "1",
    "concurrency": int(c), "requests_per_s": round(total / d, 1), "answered_per_s": round(len(answered) / d, 1),
    "shed_share": round(len(shed) / total, 4) if total else None, "other_errors": other,
    "answered_p50_ms": pct(answered, 0.5), "answered_p99_ms": pct(answered, 0.99),
    "shed_p50_ms": pct(shed, 0.5), "shed_p99_ms": pct(shed, 0.99), "rss_mib": int(rss)}))
PY
  done
  stop
done

python3 - "$out" "$run_id" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("run") == sys.argv[2]]
print(f"\n### Overload, cold /query (budget {rows[0]['budget_ms'] if rows else '?'})\n")
print("| c | shedding | answered/s | shed | answered p50 / p99 ms | shed p50 / p99 ms | RSS MiB |")
print("|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["concurrency"], r["shedding"] != "on")):
    shed = f"{r['shed_share']:.1%}" if r["shed_share"] is not None else "-"
    sp = f"{r['shed_p50_ms']} / {r['shed_p99_ms']}" if r["shed_p50_ms"] is not None else "-"
    print(f"| {r['concurrency']} | {r['shedding']} | {r['answered_per_s']} | {shed} | "
          f"{r['answered_p50_ms']} / {r['answered_p99_ms']} | {sp} | {r['rss_mib']} |")
PY
