#!/usr/bin/env bash
# bench/webhooks.sh (make bench-webhooks): what the webhook outbox costs /query. One ragd on the
# data bench/api.sh built (10,000 chunks, question cache off), wrk at concurrency C (8) for 10 s,
# ROUNDS (3) interleaved pairs: no webhook subscribed, then one webhook subscribed to
# query_completed whose receiver is a local nginx answering 204 (so the receiver's own CPU is
# negligible). Each answered question then writes its event to the outbox before the answer is
# sent, and the delivery worker claims, signs, POSTs and records it. Prints req/s and p50/p99 per
# run, the throughput cost, and the delivery lag (event recorded -> delivered) p50/p99 of the
# last 500 deliveries of each subscribed run. Writes bench/out/webhooks.json.
#   RAGD=path  the binary (default: $CARGO_TARGET_DIR or target, release)
#   C=8 ROUNDS=3 SECS=10
set -euo pipefail
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE=
ragd=${RAGD:-${CARGO_TARGET_DIR:-target}/release/ragd}
data=${DATA:-bench/out/api/ragd-data-10000}
[ -d "$data" ] || { echo "no $data: run bench/api.sh once first" >&2; exit 1; }
[ -x "$ragd" ] || { echo "no $ragd: cargo build --release -p ragd-server" >&2; exit 1; }
c=${C:-8}; rounds=${ROUNDS:-3}; secs=${SECS:-10}
port=${PORT:-18565}; hook_port=$((port + 1))
work=$(mktemp -d /tmp/ragd-bench-webhooks.XXXXXX)
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/body;
  server { listen 127.0.0.1:$hook_port; location / { return 204; } }
}
EOF
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
env RAGD_DATA_DIR="$data" RAGD_HOST=127.0.0.1 RAGD_PORT="$port" JWT_SECRET_KEY="$secret" \
  RAGD_ADMIN_USERNAME=bench RAGD_ADMIN_PASSWORD=ragd-bench-password LOG_LEVEL=warn \
  RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW=1 RAGD_QUERY_CACHE=0 ENABLE_METRICS=true \
  RAGD_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8 \
  "$ragd" serve >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
  kill $pid 2>/dev/null || true
  kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true
}
trap cleanup EXIT
base="http://127.0.0.1:$port"
until curl -sf "$base/health/ready" >/dev/null; do
  kill -0 $pid 2>/dev/null || { tail "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
token=$(curl -s -X POST "$base/auth/login" -d username=bench -d password=ragd-bench-password |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
auth=(-H "Authorization: Bearer $token" -H "Content-Type: application/json")
hook=$(curl -sf "${auth[@]}" -X POST "$base/webhooks/register" \
  -d "{\"url\": \"http://127.0.0.1:$hook_port/hook\", \"events\": [\"query_completed\"], \"secret\": \"bench-secret\"}" |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["webhook_id"])')
active() { curl -sf "${auth[@]}" -X PATCH "$base/webhooks/$hook" -d "{\"active\": $1}" >/dev/null; sleep 2.5; }
load() { BENCH_TOKEN=$token BENCH_QUESTIONS=bench/api/questions.txt wrk -t1 -c"$c" "$@" \
  -s bench/api/query.lua "$base/query"; }
drained() {
  for _ in $(seq 1 600); do
    pending=$(curl -sf "${auth[@]}" "$base/webhooks/$hook/deliveries?status=pending&limit=1" |
      python3 -c 'import sys, json; print(len(json.load(sys.stdin)))')
    [ "$pending" = 0 ] && return 0
    sleep 0.1
  done
  echo "deliveries still pending after 60 s" >&2
}
lag() {
  curl -sf "${auth[@]}" "$base/webhooks/$hook/deliveries?status=delivered&limit=500" | python3 -c '
import sys, json
from datetime import datetime
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
lags = sorted((t(d["finished_at"]) - t(d["created_at"])) * 1e3 for d in json.load(sys.stdin))
p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(json.dumps({"n": len(lags), "p50_ms": round(p(0.5), 1), "p99_ms": round(p(0.99), 1)}))'
}
results="$work/results.jsonl"
active false
load -d5s >/dev/null
for round in $(seq 1 "$rounds"); do
  for mode in none subscribed; do
    if [ "$mode" = subscribed ]; then active true; else active false; fi
    out=$(load -d"${secs}s" | grep WRK_JSON | sed 's/^WRK_JSON //')
    extra='{}'
    if [ "$mode" = subscribed ]; then drained; extra=$(lag); fi
    python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(mode=sys.argv[2], round=int(sys.argv[3]), lag=json.loads(sys.argv[4])); print(json.dumps(r))' \
      "$out" "$mode" "$round" "$extra" | tee -a "$results"
  done
done
delivered=$(curl -sf "$base/metrics" | grep -E '^rag_webhook_deliveries_total' || true)
mkdir -p bench/out
python3 - "$results" "$c" <<'EOF' | tee bench/out/webhooks.json
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(mode, key): return statistics.median(r[key] for r in runs if r["mode"] == mode)
none, sub = med("none", "rps"), med("subscribed", "rps")
lags = [r["lag"] for r in runs if r["mode"] == "subscribed"]
print(json.dumps({
    "concurrency": int(sys.argv[2]),
    "rps_no_webhook": round(none, 1), "rps_webhook": round(sub, 1),
    "throughput_cost_pct": round(100 * (none - sub) / none, 1),
    "p99_ms_no_webhook": med("none", "p99_ms"), "p99_ms_webhook": med("subscribed", "p99_ms"),
    "lag_p50_ms": statistics.median(l["p50_ms"] for l in lags),
    "lag_p99_ms": max(l["p99_ms"] for l in lags),
    "runs": runs}, indent=1))
EOF
echo "$delivered"
