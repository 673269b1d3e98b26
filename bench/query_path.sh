#!/usr/bin/env bash
# bench/query_path.sh (make bench-query-path): the cold question path against the model's own
# limit and against the chapter's Python stack, in the same run, interleaved.
#
# Each round measures, one after the other on a quiet machine:
#   model  — the model alone: CONCURRENCY callers each embedding one question at a time through
#            ragd's embedder (its queue, batching and threads; no question cache, no HTTP):
#            `cargo bench -p ragd-backends --bench engine -- concurrent` — the physical limit of
#            this CPU for what /query asks of the model;
#   ragd   — `ragd serve` on bench/api.sh's 10,000 chunks, question cache off, wrk on POST /query
#            (k 5, threshold 0.7, rotating over bench/api/questions.txt) at CONCURRENCY;
#   python — the chapter's stack (bench/api/python_stack) on the same chunks, same wrk.
# Then it prints ragd/model and ragd/python per round and their medians, with the CPU, its
# bf16/AMX flags and the precision OpenVINO ran in.
#
# Environment:
#   ROUNDS=3  DURATION=10 (seconds of load per point)  CONCURRENCY=8
#   SETTINGS="default"   ragd settings to compare, each a comma-separated K=V list given to
#                        both the model-only bench and the server, e.g.
#                        SETTINGS="default RAGD_EMBED_PRECISION=f32 RAGD_EMBED_STREAMS=1"
#   STACKS="model ragd python"
#   RAGD_BIN=path  ENGINE_BIN=path (default: built here with cargo, release / bench profile)
# Needs bench/api.sh's data (bench/out/api/: corpus, Chroma, ragd data dir, venv): `make
# bench-api` once. Results: JSON lines in bench/out/query-path.jsonl, a table on stdout.
set -euo pipefail
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE=
root=$PWD
work=$root/bench/out/api
n=10000
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
c=${CONCURRENCY:-8}
settings=${SETTINGS:-default}
stacks=${STACKS:-model ragd python}
questions=$root/bench/api/questions.txt
venv=$root/bench/out/api-venv
model_dir=$root/models/all-MiniLM-L6-v2
out=$root/bench/out/query-path.jsonl
run_id=query-path-$(date -u +%Y%m%dT%H%M%SZ)
username=bench
password="ragd-bench-password"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_MAX_RESULTS=5 BENCH_THRESHOLD=0.7 BENCH_QUESTIONS=$questions
export ANONYMIZED_TELEMETRY=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

say() { printf '== %s\n' "$*" >&2; }
if [ ! -d "$work/ragd-data-$n" ] || [ ! -d "$work/chroma-$n" ] || [ ! -x "$venv/bin/uvicorn" ]; then
  echo "no bench/out/api data: run 'make bench-api' once first" >&2
  exit 1
fi
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

target=${CARGO_TARGET_DIR:-$root/target}
ragd=${RAGD_BIN:-$target/release/ragd}
if [ -z "${RAGD_BIN:-}" ]; then
  say "cargo build --release -p ragd-server"
  cargo build -q --release -p ragd-server
fi
engine=${ENGINE_BIN:-}
if [ -z "$engine" ]; then
  say "cargo bench --no-run (the engine bench)"
  engine=$(cargo bench -q -p ragd-backends --bench engine --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "engine" and m.get("executable"):
        print(m["executable"])')
fi
[ -x "$engine" ] || { echo "no engine bench binary" >&2; exit 1; }

server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap stop_server EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 3000); do
    curl -sf -o /dev/null --max-time 5 "$1" && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
login() {
  curl -s --fail-with-body -X POST --data-urlencode "username=$username" \
    --data-urlencode "password=$password" "$1/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
# wrk at $c for $duration s after a 5 s warm-up; prints "req/s p50_ms p99_ms errors"
load() {
  local url=$1 token=$2
  BENCH_TOKEN=$token wrk -t2 -c"$c" -d5s -s bench/api/query.lua "$url" >/dev/null 2>&1 || true
  BENCH_TOKEN=$token wrk -t2 -c"$c" -d"${duration}s" --latency --timeout 30s -s bench/api/query.lua "$url" 2>&1 |
    sed -n 's/^WRK_JSON //p' |
    python3 -c 'import json, sys; r = json.loads(sys.stdin.read())
print(r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"])'
}
# settings "A=1,B=2" -> env assignments
envs() { [ "$1" = default ] || tr ',' '\n' <<<"$1"; }

record() { # record STACK SETTING ROUND RPS P50 P99 ERRORS [PRECISION]
  python3 -c 'import json, sys; a = sys.argv
print(json.dumps({"bench": "query_path", "run": a[1], "stack": a[2], "setting": a[3], "round": int(a[4]),
  "concurrency": int(a[5]), "per_s": float(a[6]), "p50_ms": float(a[7]), "p99_ms": float(a[8]),
  "errors": int(float(a[9])), "precision": a[10], "cpu": a[11]}))' \
    "$run_id" "$1" "$2" "$3" "$c" "$4" "$5" "$6" "$7" "${8:-}" "$cpu" | tee -a "$out"
}

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores; $(grep -m1 -o -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' '| sed 's/ $//'))"
say "run $run_id on $cpu: $rounds rounds, c=$c, ${duration}s per point"

model_point() { # model_point SETTING ROUND
  local line
  # shellcheck disable=SC2046 # one K=V word per setting
  line=$(env $(envs "$1") RAGD_EMBED_SPIN=false RAGD_EMBED_THREADS="$(nproc)" \
    "$engine" concurrent "$questions" "$c" "$duration" 2>/dev/null | tail -n 1)
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print(r["questions_per_s"], r["p50_ms"], r["p99_ms"], 0, "")' "$line"
}
ragd_point() { # ragd_point SETTING
  local port base token precision
  port=$(free_port)
  base=http://127.0.0.1:$port
  # shellcheck disable=SC2046 # one K=V word per setting
  (exec env $(envs "$1") RAGD_DATA_DIR="$work/ragd-data-$n" RAGD_HOST=127.0.0.1 RAGD_PORT="$port" \
    JWT_SECRET_KEY="$secret" RAGD_ADMIN_USERNAME="$username" RAGD_ADMIN_PASSWORD="$password" \
    LOG_LEVEL=info RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW=1 RAGD_QUERY_CACHE=0 \
    "$ragd" serve) >"$work/server-query-path.log" 2>&1 &
  server_pid=$!
  wait_ready "$base/health/ready" || { tail "$work/server-query-path.log" >&2; exit 1; }
  precision=$(sed -n 's/.*embedding model loaded.*precision[=:]"\{0,1\}\([a-z0-9]*\).*/\1/p' "$work/server-query-path.log" | head -1)
  token=$(login "$base")
  echo "$(load "$base/query" "$token") ${precision:-?}"
  stop_server
}
python_point() {
  local port base token
  port=$(free_port)
  base=http://127.0.0.1:$port
  (cd bench/api/python_stack && exec env CHROMA_DB_PATH="$work/chroma-$n" CHROMA_COLLECTION_NAME=documents \
    EMBEDDINGS_MODEL="$model_dir" JWT_SECRET_KEY="$secret" API_USERNAME="$username" API_PASSWORD="$password" \
    LOG_LEVEL=info "$venv/bin/uvicorn" app:app --host 127.0.0.1 --port "$port") >"$work/server-python-query-path.log" 2>&1 &
  server_pid=$!
  wait_ready "$base/health" || { tail "$work/server-python-query-path.log" >&2; exit 1; }
  token=$(login "$base")
  echo "$(load "$base/query" "$token") -"
  stop_server
}

for round in $(seq "$rounds"); do
  for setting in $settings; do
    for stack in $stacks; do
      [ "$stack" = python ] && [ "$setting" != "$(awk '{print $1}' <<<"$settings")" ] && continue
      say "round $round: $stack ($setting)"
      case $stack in
        model) read -r rps p50 p99 errors precision < <(model_point "$setting") ;;
        ragd) read -r rps p50 p99 errors precision < <(ragd_point "$setting") ;;
        python) read -r rps p50 p99 errors precision < <(python_point) ;;
        *) echo "unknown stack $stack" >&2; exit 2 ;;
      esac
      record "$stack" "$setting" "$round" "$rps" "$p50" "$p99" "$errors" "$precision" >/dev/null
      say "  $rps /s, p50 $p50 ms, p99 $p99 ms, errors $errors, precision $precision"
    done
  done
done

python3 - "$out" "$run_id" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("run") == sys.argv[2]]
cpu = rows[0]["cpu"] if rows else "?"
print(f"\n### Cold question path, c={rows[0]['concurrency'] if rows else '?'} — {cpu}\n")
python = statistics.median([r["per_s"] for r in rows if r["stack"] == "python"] or [float("nan")])
print("| setting | model alone (questions/s) | ragd /query (req/s, p50/p99 ms) | ragd / model | ragd / chapter's stack |")
print("|---|---|---|---|---|")
for setting in dict.fromkeys(r["setting"] for r in rows if r["stack"] != "python"):
    model = [r for r in rows if r["stack"] == "model" and r["setting"] == setting]
    ragd = [r for r in rows if r["stack"] == "ragd" and r["setting"] == setting]
    m = statistics.median([r["per_s"] for r in model]) if model else float("nan")
    q = statistics.median([r["per_s"] for r in ragd]) if ragd else float("nan")
    p50 = statistics.median([r["p50_ms"] for r in ragd]) if ragd else float("nan")
    p99 = statistics.median([r["p99_ms"] for r in ragd]) if ragd else float("nan")
    prec = "/".join(sorted({r["precision"] for r in model + ragd if r["precision"]}))
    rounds = ", ".join(format(r["per_s"], ".0f") for r in ragd)
    print(f"| {setting} ({prec}) | {m:.1f} | {q:.1f} ({p50:.1f}/{p99:.1f}; rounds {rounds}) | {q / m:.0%} | {q / python:.1f}× |")
print(f"\nchapter's stack: {python:.1f} req/s (median of "
      f"{', '.join(format(r['per_s'], '.1f') for r in rows if r['stack'] == 'python')})")
PY
