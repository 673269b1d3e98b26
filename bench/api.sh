#!/usr/bin/env bash
# bench/api.sh: the HTTP benchmark of issue 3, ragd against the chapter's own Python stack
# (FastAPI + uvicorn + Chroma + sentence-transformers, bench/api/python_stack) in the same run.
#
# For each stack: start the server on a free loopback port and time spawn -> first 200 from its
# readiness URL (python: GET /health, ragd: GET /health/ready); RSS of the server's process tree
# at ready, idle after a warm-up pass, and after the load; log in (POST /auth/login, form
# fields); a probe pass over the questions (warm-up + how many answers carry sources); then
# wrk -c 1, 8, 32 on POST /query with bench/api/query.lua: the chapter client's body
# {"query", "max_results": 5, "threshold": 0.7, "use_guardrails": true} with a bearer token,
# rotating over bench/api/questions.txt. Both stacks get the same passages (one chunk each),
# questions, k, threshold, credentials, log level and wrk settings.
#
# Results: JSON lines appended to bench/out/api-results.jsonl (one "run" id per invocation),
# then markdown tables on stdout (bench/api/report.py). Work files in bench/out/api/.
#
# Environment:
#   BENCH_DURATION=20        seconds of wrk per concurrency
#   BENCH_CONCURRENCY="1 8 32"
#   BENCH_API_PASSAGES=10000 corpus size (passages = chunks); e.g. 500 to try the script
#   BENCH_STACKS="python ragd"
#   BENCH_LOG_LEVEL=info     LOG_LEVEL given to both servers (the chapter's default is INFO)
#   BENCH_BUILD=1            cargo build --release -p ragd-server first (0: use the binary as is)
#   BENCH_TIMEOUT=30         wrk's per-request timeout, seconds
#   BENCH_READY_TIMEOUT=300  seconds a server may take to become ready
#   RAGD_BIN=target/release/ragd
# Extra environment reaches the servers unchanged (e.g. RAGD_SIMILARITY=cosine for ragd).
# Each wrk point also records the cores used by the server and by the whole machine (a quiet
# measurement has machine ~= server + a little for wrk).
# First run: builds bench/out/api-venv, downloads the documentation .debs for the corpus and
# ingests it into both stacks (10k passages: ~17 min for the Python stack at ~10 passages/s on a
# busy machine, ~7 min for ragd); later runs reuse all of it and take ~5 minutes.
set -euo pipefail
# The retrieval path is measured with the extractive answer (bench/generation.sh measures models).
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
# ragd runs with its defaults and the settings given here, never a developer's .env.
export RAGD_ENV_FILE=
root=$PWD
out=$root/bench/out
work=$out/api
mkdir -p "$work"
results=$out/api-results.jsonl
duration=${BENCH_DURATION:-20}
concurrency=${BENCH_CONCURRENCY:-1 8 32}
n=${BENCH_API_PASSAGES:-10000}
stacks=${BENCH_STACKS:-python ragd}
log_level=${BENCH_LOG_LEVEL:-info}
wrk_timeout=${BENCH_TIMEOUT:-30}
ready_timeout=${BENCH_READY_TIMEOUT:-300}
questions=$root/bench/api/questions.txt
model_dir=$root/models/all-MiniLM-L6-v2
run_id=api-$(date -u +%Y%m%dT%H%M%SZ)
venv=$out/api-venv
py=$venv/bin/python
ragd=${RAGD_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/ragd}
doc_packages=python3.11-doc,postgresql-doc-15,linux-doc-6.1
max_results=5
threshold=0.7
# ragd creates its bootstrap admin only when the user does not exist yet, and the data dir is
# reused across runs: the password must stay the same from run to run (loopback only)
username=${BENCH_USERNAME:-bench}
password=${BENCH_PASSWORD:-ragd-bench-password}
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')   # 64 hex chars
export BENCH_MAX_RESULTS=$max_results BENCH_THRESHOLD=$threshold BENCH_QUESTIONS=$questions
export ANONYMIZED_TELEMETRY=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

say() { printf '== %s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
record() { tee -a "$results"; }

command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
[ -f "$model_dir/modules.json" ] || { echo "no sentence-transformers model at $model_dir: run 'make model'" >&2; exit 1; }

# ---------------------------------------------------------------- servers and processes
server_pid=
cleanup() { [ -n "$server_pid" ] && stop_server; true; }
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

tree_pids() {
  local p=$1 c
  echo "$p"
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
}
# sum of a field of /proc/PID/status (kB) over the process tree, in MiB
tree_status_mib() {
  local field=$1 sum=0 p v
  for p in $(tree_pids "$2"); do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  awk -v k="$sum" 'BEGIN { printf "%.1f", k / 1024 }'
}

# CPU accounting, to tell a quiet measurement from one that shared the cores with other work:
# machine-wide busy ticks (all cores) and the server tree's own utime+stime, both in USER_HZ ticks
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
tree_cpu_ticks() {
  local sum=0 p v
  for p in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

stop_server() {
  local pid=$server_pid
  server_pid=
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# wait_ready URL: poll until HTTP 200; fail if the server exits or ready_timeout passes
wait_ready() {
  local url=$1 deadline=$(($(now_ms) + ready_timeout * 1000)) code
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)
    [ "$code" = 200 ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited before it was ready" >&2; return 1; }
    [ "$(now_ms)" -lt "$deadline" ] || { echo "not ready after ${ready_timeout}s" >&2; return 1; }
    sleep 0.02
  done
}

login() { # login BASE_URL -> token (form fields, as the chapter's clients send them)
  curl -s --fail-with-body -X POST --data-urlencode "username=$username" \
    --data-urlencode "password=$password" "$1/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# ---------------------------------------------------------------- the corpus
setup_python_venv() {
  local stamp=$venv/.requirements.sha256 want
  want=$(sha256sum "$root/bench/api/requirements.txt" | cut -d' ' -f1)
  [ -x "$py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "installing the Python stack into $venv"
  [ -x "$py" ] || python3 -m venv "$venv"
  # Reuse torch & co. from the repo's .venv (bench/run.sh) when it has the pinned versions,
  # rather than downloading ~4 GB again; pip then counts those pins as satisfied.
  local base=$root/.venv/lib/python3.11/site-packages
  if [ -d "$base" ] && "$root/.venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(not (m.version("torch") == "2.15.0" and m.version("sentence-transformers") == "6.2.0"))' 2>/dev/null \
     && [ -d "$venv/lib/python3.11/site-packages" ]; then
    echo "$base" >"$venv/lib/python3.11/site-packages/zz_ragd_base_venv.pth"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/bench/api/requirements.txt"
  echo "$want" >"$stamp"
}

passages=$work/passages-$n.jsonl
txt_dir=$work/ragd-corpus-$n
setup_corpus() {
  [ -s "$passages" ] && [ -d "$txt_dir" ] && return 0
  local pool=$work/pool-$((n * 14 / 10)).jsonl p
  if [ ! -s "$pool" ]; then
    # make_passages.py shuffles every window with a fixed seed: a smaller pool is a larger one's head
    for p in "$work"/pool-*.jsonl; do
      if [ -s "$p" ] && [ "$(wc -l <"$p")" -ge $((n * 14 / 10)) ]; then
        head -n $((n * 14 / 10)) "$p" >"$pool"
        break
      fi
    done
  fi
  if [ ! -s "$pool" ]; then
    say "making a pool of $((n * 14 / 10)) passages ($doc_packages)"
    python3 bench/make_passages.py "$((n * 14 / 10))" "$pool" --packages "$doc_packages"
  fi
  say "keeping $n passages of at most 190 tokens (one chunk each in both stacks)"
  rm -rf "$txt_dir"
  "$py" bench/api/make_corpus.py "$pool" "$n" "$passages" --txt-dir "$txt_dir" \
    --tokenizer "$model_dir/tokenizer.json" >&2
}

chroma_dir=$work/chroma-$n
setup_chroma() {
  local stamp=$chroma_dir/.bench-stamp want
  want="$(sha256sum "$passages" | cut -d' ' -f1) $("$py" -c 'import chromadb; print(chromadb.__version__)')"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "ingesting $n passages into Chroma with sentence-transformers (python stack)"
  rm -rf "$chroma_dir"
  ANONYMIZED_TELEMETRY=False "$py" bench/api/python_stack/ingest.py "$passages" --db "$chroma_dir" \
    --model "$model_dir" | python3 -c 'import json, sys; r = json.load(sys.stdin); r["run"] = sys.argv[1]; print(json.dumps(r))' "$run_id" | record
  echo "$want" >"$stamp"
}

ragd_data=$work/ragd-data-$n
ragd_ingest() {
  # ragd skips unchanged files, so re-running is cheap; a data dir it cannot use is rebuilt once
  say "ragd ingest $txt_dir (unchanged files are skipped)"
  local tag
  if ! RAGD_DATA_DIR=$ragd_data "$ragd" ingest "$txt_dir" --json --quiet >"$work/ragd-ingest.json" 2>"$work/ragd-ingest.log"; then
    say "ragd ingest failed ($(tail -n 1 "$work/ragd-ingest.log")); rebuilding $ragd_data"
    rm -rf "$ragd_data"
    RAGD_DATA_DIR=$ragd_data "$ragd" ingest "$txt_dir" --json --quiet >"$work/ragd-ingest.json" 2>"$work/ragd-ingest.log" ||
      { cat "$work/ragd-ingest.log" >&2; return 1; }
  fi
  tag=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r.get("ingested", 0))' "$work/ragd-ingest.json" 2>/dev/null || echo 0)
  if [ "${tag:-0}" != 0 ]; then
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r.pop("files", None); r.update(bench="api_ragd_ingest", stack="ragd", run=sys.argv[2]); print(json.dumps(r))' \
      "$work/ragd-ingest.json" "$run_id" | record
  fi
}

# ---------------------------------------------------------------- one stack
start_server() { # start_server STACK PORT (sets server_pid)
  local stack=$1 port=$2
  case $stack in
    python)
      (cd "$root/bench/api/python_stack" && exec env CHROMA_DB_PATH="$chroma_dir" CHROMA_COLLECTION_NAME=documents \
        EMBEDDINGS_MODEL="$model_dir" JWT_SECRET_KEY="$secret" API_USERNAME="$username" API_PASSWORD="$password" \
        LOG_LEVEL="$log_level" "$venv/bin/uvicorn" app:app --host 127.0.0.1 --port "$port") \
        >"$work/server-python.log" 2>&1 &
      ;;
    ragd)
      (exec env RAGD_DATA_DIR="$ragd_data" RAGD_HOST=127.0.0.1 RAGD_PORT="$port" JWT_SECRET_KEY="$secret" \
        RAGD_ADMIN_USERNAME="$username" RAGD_ADMIN_PASSWORD="$password" LOG_LEVEL="$log_level" \
        RATE_LIMIT_REQUESTS="${RATE_LIMIT_REQUESTS:-1000000000}" RATE_LIMIT_WINDOW="${RATE_LIMIT_WINDOW:-1}" \
        "$ragd" serve) >"$work/server-ragd.log" 2>&1 &
      ;;
  esac
  server_pid=$!
}

bench_stack() {
  local stack=$1 busy0 total0 busy1 total1 srv0 srv1 cpu_busy cpu_server stats_count port base ready_path t0 startup rss_ready rss_idle rss_after peak procs token c threads load1 line
  port=$(free_port)
  base=http://127.0.0.1:$port
  ready_path=/health
  [ "$stack" = ragd ] && ready_path=/health/ready
  say "$stack: starting on $base"
  t0=$(now_ms)
  start_server "$stack" "$port"
  if ! wait_ready "$base$ready_path"; then
    tail -n 20 "$work/server-$stack.log" >&2
    stop_server
    return 1
  fi
  startup=$(($(now_ms) - t0))
  rss_ready=$(tree_status_mib VmRSS "$server_pid")
  say "$stack: ready in ${startup} ms, RSS ${rss_ready} MiB"
  token=$(login "$base")
  stats_count=$(curl -s -H "Authorization: Bearer $token" "$base/stats" |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get("documents_count", -1))' 2>/dev/null || echo -1)
  say "$stack: probe pass over $(grep -c . "$questions") questions (warm-up)"
  "$py" bench/api/probe.py "$base" "$token" "$questions" "$stack" "$work/probe-$stack.jsonl" \
    --threshold "$threshold" --max-results "$max_results" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); r["run"] = sys.argv[1]; print(json.dumps(r))' "$run_id" | record ||
    say "$stack: some probe requests were not 2xx (see $work/probe-$stack.jsonl)"
  sleep 2 # settle, then idle RSS with the corpus loaded and the server warm
  rss_idle=$(tree_status_mib VmRSS "$server_pid")
  for c in $concurrency; do
    threads=2
    [ "$c" -lt 2 ] && threads=1
    load1=$(cut -d' ' -f1 /proc/loadavg)
    say "$stack: wrk -t$threads -c$c -d${duration}s"
    read -r busy0 total0 < <(cpu_ticks)
    srv0=$(tree_cpu_ticks "$server_pid")
    BENCH_TOKEN=$token wrk -t"$threads" -c"$c" -d"${duration}s" --latency --timeout "${wrk_timeout}s" \
      -s bench/api/query.lua "$base/query" >"$work/wrk-$stack-c$c.txt" 2>&1 || true
    read -r busy1 total1 < <(cpu_ticks)
    srv1=$(tree_cpu_ticks "$server_pid")
    # cores busy machine-wide, and cores used by the server, averaged over the wrk run
    read -r cpu_busy cpu_server < <(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v s=$((srv1 - srv0)) -v n="$(nproc)" \
      'BEGIN { e = t / n; if (e <= 0) e = 1; printf "%.2f %.2f\n", b / e, s / e }')
    line=$(sed -n 's/^WRK_JSON //p' "$work/wrk-$stack-c$c.txt")
    if [ -z "$line" ]; then
      cat "$work/wrk-$stack-c$c.txt" >&2
      continue
    fi
    python3 - "$line" "$run_id" "$stack" "$c" "$threads" "$duration" "$n" "$max_results" "$threshold" \
      "$(grep -c . "$questions")" "$load1" "$cpu_busy" "$cpu_server" <<'PY' | record
import json, sys
r = json.loads(sys.argv[1])
out = {"bench": "api_query", "run": sys.argv[2], "stack": sys.argv[3], "concurrency": int(sys.argv[4]),
       "wrk_threads": int(sys.argv[5]), "duration_s": int(sys.argv[6]), "chunks": int(sys.argv[7]),
       "max_results": int(sys.argv[8]), "threshold": float(sys.argv[9]), "questions": int(sys.argv[10]),
       "load1_before": float(sys.argv[11]), "cpu_busy_cores": float(sys.argv[12]),
       "server_cpu_cores": float(sys.argv[13])}
if out["stack"] == "ragd":
    import os
    out["ragd_similarity"] = os.environ.get("RAGD_SIMILARITY", "default")
out.update(r)
print(json.dumps(out))
PY
  done
  rss_after=$(tree_status_mib VmRSS "$server_pid")
  peak=$(tree_status_mib VmHWM "$server_pid")
  procs=$(tree_pids "$server_pid" | wc -l)
  stop_server
  python3 -c 'import json, sys; a = sys.argv
print(json.dumps({"bench": "api_server", "run": a[1], "stack": a[2], "startup_ms": int(a[3]), "ready_path": a[4],
  "rss_ready_mib": float(a[5]), "rss_idle_mib": float(a[6]), "rss_after_load_mib": float(a[7]),
  "peak_rss_mib": float(a[8]), "processes": int(a[9]), "chunks": int(a[10]), "stats_documents_count": int(a[11])}))' \
    "$run_id" "$stack" "$startup" "$ready_path" "$rss_ready" "$rss_idle" "$rss_after" "$peak" "$procs" "$n" "$stats_count" | record
}

# ---------------------------------------------------------------- main
setup_python_venv
setup_corpus
run_python=0 run_ragd=0
for s in $stacks; do
  case $s in
    python) run_python=1 ;;
    ragd) run_ragd=1 ;;
    *) echo "unknown stack $s" >&2; exit 2 ;;
  esac
done
if [ $run_ragd = 1 ]; then
  if [ "${BENCH_BUILD:-1}" = 1 ]; then
    say "cargo build --release -p ragd-server"
    cargo build -q --release -p ragd-server || say "build failed; using the existing binary if any"
  fi
  if [ ! -x "$ragd" ] || ! "$ragd" serve --help >/dev/null 2>&1; then
    say "ragd serve not available yet: only the Python stack is measured"
    run_ragd=0
  fi
fi
# all ingestion first, so that the measurements run back to back on a quiet machine
[ $run_python = 1 ] && setup_chroma
[ $run_ragd = 1 ] && ragd_ingest
say "run $run_id: $n chunks, wrk ${duration}s at c=$concurrency, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
[ $run_python = 1 ] && bench_stack python
[ $run_ragd = 1 ] && bench_stack ragd
python3 bench/api/report.py "$results" --run "$run_id" --probe-dir "$work"
