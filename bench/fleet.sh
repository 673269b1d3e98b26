#!/usr/bin/env bash
# bench/fleet.sh: the fleet benchmark of issue 13. /query (wrk with bench/api/query.lua, as
# bench/api.sh) on ragd instances sharing PostgreSQL + pgvector and Redis, directly and through
# nginx, against the embedded mode (one ragd on its SQLite data dir) and the chapter's Python
# stack, all in the same run; then the rate-limit decision latency, in process vs Redis
# (`cargo bench -p ragd-backends --bench limits`).
#
# 1. bench/api.sh with BENCH_STACKS (default "python ragd"), the same BENCH_CONCURRENCY and
#    BENCH_DURATION, and RAGD_QUERY_CACHE=0 (cold: every question embedded): the python and
#    embedded rows, the corpus and the data dir bench/out/api/ragd-data-$N.
# 2. A fresh PostgreSQL (bench/out/fleet/pg) and a Redis (bench/out/fleet/redis);
#    `ragd migrate` copies the data dir into PostgreSQL (no re-embedding).
# 3. The points, each stage with freshly started instances (the first alone, then the others)
#    and a warm-up of BENCH_FLEET_WARMUP seconds of wrk per target, then wrk at each concurrency:
#      pg1-direct      1 instance, wrk straight to it
#      pg1-nginx       the same instance through nginx (with pg1-direct: nginx's overhead)
#      pg3-nginx       3 instances through nginx
#      pg3-nginx-t1    the same with RAGD_EMBED_THREADS=1 per instance (3 instances x the
#                      default of one thread per core oversubscribe 2 cores 3x)
#      pg3-nginx-warm  3 instances with the question cache on (in memory and in Redis)
#    All but -warm are cold: RAGD_QUERY_CACHE=0 and RAGD_REDIS_CACHE_TTL_SECS=0.
#    Each point records req/s, latency, errors, the cores used by the ragd instances, nginx,
#    Redis, PostgreSQL and the whole machine, and each instance's RSS.
# 4. The limits bench against the same Redis (ragd and nginx stopped).
#
# Results: JSON lines appended to bench/out/fleet.jsonl (one "run" id; the rows of step 1 stay in
# bench/out/api-results.jsonl, their run id in this run's fleet_setup row), then markdown
# tables on stdout (bench/fleet_report.py). Work files in bench/out/fleet/.
#
# Environment:
#   BENCH_DURATION=15        seconds of wrk per point
#   BENCH_CONCURRENCY="8 32"
#   BENCH_API_PASSAGES=10000 corpus size, passed to bench/api.sh
#   BENCH_STACKS="python ragd"  passed to bench/api.sh
#   BENCH_FLEET_SKIP_API=1   skip step 1: the python/embedded rows come from the latest api run
#                            over the same number of passages in bench/out/api-results.jsonl
#                            (the report says so)
#   BENCH_FLEET_POINTS="pg1-direct pg1-nginx pg3-nginx pg3-nginx-t1 pg3-nginx-warm"
#   BENCH_FLEET_WARMUP=5     seconds of wrk (c=8) before the first point on each target
#   BENCH_FLEET_LIMITS=1     0: skip step 4
#   BENCH_BUILD=1            cargo build --release -p ragd-server first (0: use the binary as is)
#   BENCH_LOG_LEVEL=info  BENCH_TIMEOUT=30  BENCH_READY_TIMEOUT=300  RAGD_BIN=...  (as api.sh)
# Extra environment reaches every ragd unchanged (e.g. RAGD_SIMILARITY).
set -euo pipefail
cd "$(dirname "$0")/.."
# ragd runs with its defaults and the settings given here, never a developer's .env.
export RAGD_ENV_FILE=
root=$PWD
out=$root/bench/out
work=$out/fleet
results=$out/fleet.jsonl
api_results=$out/api-results.jsonl
duration=${BENCH_DURATION:-15}
concurrency=${BENCH_CONCURRENCY:-8 32}
n=${BENCH_API_PASSAGES:-10000}
points=${BENCH_FLEET_POINTS:-pg1-direct pg1-nginx pg3-nginx pg3-nginx-t1 pg3-nginx-warm}
warmup=${BENCH_FLEET_WARMUP:-5}
log_level=${BENCH_LOG_LEVEL:-info}
wrk_timeout=${BENCH_TIMEOUT:-30}
ready_timeout=${BENCH_READY_TIMEOUT:-300}
questions=$root/bench/api/questions.txt
ragd=${RAGD_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/ragd}
ragd_data=$out/api/ragd-data-$n
run_id=fleet-$(date -u +%Y%m%dT%H%M%SZ)
cores=$(nproc)
# the bootstrap admin of bench/api.sh, which `ragd migrate` copies into PostgreSQL
username=${BENCH_USERNAME:-bench}
password=${BENCH_PASSWORD:-ragd-bench-password}
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_MAX_RESULTS=5 BENCH_THRESHOLD=0.7 BENCH_QUESTIONS=$questions

say() { printf '== %s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
record() { tee -a "$results"; }
want() { [[ " $points " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

for tool in wrk curl redis-server /usr/sbin/nginx; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install wrk curl redis-server nginx)" >&2; exit 1; }
done

# ---------------------------------------------------------------- processes and their CPU
inst_pids=() inst_bases=() inst_dirs=()
nginx_pid='' nginx_base='' redis_url='' pg_url=''
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_instances() {
  local pid d
  for pid in "${inst_pids[@]}"; do stop_pid "$pid"; done
  for d in "${inst_dirs[@]}"; do rm -rf "$d"; done
  inst_pids=() inst_bases=() inst_dirs=()
}
stop_nginx() { [ -z "$nginx_pid" ] || stop_pid "$nginx_pid"; nginx_pid=''; }
cleanup() {
  stop_instances
  stop_nginx
  [ -z "$redis_url" ] || scripts/redis.sh stop "$work/redis" || true
  [ -z "$pg_url" ] || scripts/postgres.sh stop "$work/pg" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tree_pids() {
  local p=$1 c
  echo "$p"
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
}
tree_cpu_ticks() { # CPU of a process tree, USER_HZ ticks: utime+stime of each live process, plus
  # cutime+cstime (its reaped children's), so a process that ends mid-point (a PostgreSQL backend)
  # still counts, through its parent
  local sum=0 p v
  for p in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
rss_mib() { awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
# the processes whose CPU each point records: each instance, then nginx, redis, postgres
watched() {
  local p
  for p in "${inst_pids[@]}"; do echo "$p"; done
  echo "${nginx_pid:-0}" "$(cat "$work/redis/redis.pid")" "$(head -n 1 "$work/pg/data/postmaster.pid")"
}
ticks_of() { local p; for p in $(watched); do if [ "$p" = 0 ]; then echo 0; else tree_cpu_ticks "$p"; fi; done | xargs; }

# ---------------------------------------------------------------- ragd instances and nginx
wait_ready() { # wait_ready URL PID
  local deadline=$(($(now_ms) + ready_timeout * 1000))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true)" = 200 ]; do
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited before $1 was ready" >&2; return 1; }
    [ "$(now_ms)" -lt "$deadline" ] || { echo "$1 not ready after ${ready_timeout}s" >&2; return 1; }
    sleep 0.05
  done
}
start_instance() { # start_instance THREADS CACHE: THREADS 0 = ragd's default; CACHE cold|warm
  local threads=$1 cache=$2 i=${#inst_pids[@]} port dir settings=()
  port=$(free_port)
  dir=$(mktemp -d "$work/instance-$i.XXXXXX")
  [ "$threads" = 0 ] || settings+=("RAGD_EMBED_THREADS=$threads")
  if [ "$cache" = cold ]; then settings+=(RAGD_QUERY_CACHE=0 RAGD_REDIS_CACHE_TTL_SECS=0); fi
  (exec env -u RAGD_QUERY_CACHE -u RAGD_REDIS_CACHE_TTL_SECS -u RAGD_EMBED_THREADS \
    RAGD_DATA_DIR="$dir" DATABASE_URL="$pg_url" REDIS_URL="$redis_url" JWT_SECRET_KEY="$secret" \
    RAGD_HOST=127.0.0.1 RAGD_PORT="$port" RAGD_ADMIN_USERNAME="$username" RAGD_ADMIN_PASSWORD="$password" \
    RAGD_TRUSTED_PROXIES=127.0.0.1 RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW=1 \
    RAGD_GENERATOR=extractive LOG_LEVEL="$log_level" "${settings[@]}" "$ragd" serve) \
    >"$work/ragd-$i.log" 2>&1 &
  inst_pids+=("$!") inst_bases+=("http://127.0.0.1:$port") inst_dirs+=("$dir")
}
start_nginx() {
  local dir=$work/nginx port conf servers='' base user=''
  mkdir -p "$dir"
  port=$(free_port)
  for base in "${inst_bases[@]}"; do servers+="        server ${base#http://};"$'\n'; done
  [ "$(id -u)" != 0 ] || user='user root;' # else the workers run as nobody, who cannot write $dir
  conf=$(<bench/fleet/nginx.conf.in)
  conf=${conf//@USER@/$user} conf=${conf//@DIR@/$dir} conf=${conf//@PORT@/$port}
  conf=${conf//@SERVERS@/${servers%$'\n'}}
  printf '%s\n' "$conf" >"$dir/nginx.conf"
  /usr/sbin/nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' &
  nginx_pid=$! nginx_base=http://127.0.0.1:$port
  wait_ready "$nginx_base/health/ready" "$nginx_pid" || { cat "$dir/error.log" >&2; return 1; }
}

# stage COUNT THREADS CACHE: COUNT fresh instances (the first alone: it runs the database
# migrations and the bootstrap), nginx over them, a login; records startup and RSS
stage() {
  local count=$1 threads=$2 cache=$3 i t0 startup=()
  stop_nginx
  stop_instances
  redis-cli -u "$redis_url" flushall >/dev/null # no limiter counters or cached questions left over
  say "stage: $count instance(s), RAGD_EMBED_THREADS=$([ "$threads" = 0 ] && echo "default ($cores)" || echo "$threads"), question cache $cache"
  # ready_ms: the first instance's from its start, the others' from their start together
  for ((i = 0; i < count; i++)); do
    [ "$i" -gt 1 ] || t0=$(now_ms)
    start_instance "$threads" "$cache"
    [ "$i" = 0 ] || [ "$i" = $((count - 1)) ] || continue
    while [ ${#startup[@]} -le "$i" ]; do
      local j=${#startup[@]}
      wait_ready "${inst_bases[j]}/health/ready" "${inst_pids[j]}" || { tail -n 20 "$work/ragd-$j.log" >&2; return 1; }
      startup+=("$(($(now_ms) - t0))")
    done
  done
  start_nginx
  token=$(curl -s --fail-with-body -X POST --data-urlencode "username=$username" \
    --data-urlencode "password=$password" "$nginx_base/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  python3 -c 'import json, sys; a = sys.argv
print(json.dumps({"bench": "fleet_stage", "run": a[1], "instances": int(a[2]), "embed_threads": int(a[3]),
  "question_cache": a[4], "ready_ms": [int(x) for x in a[5].split()], "rss_ready_mib": [float(x) for x in a[6].split()]}))' \
    "$run_id" "$count" "$([ "$threads" = 0 ] && echo "$cores" || echo "$threads")" "$cache" "${startup[*]}" \
    "$(for p in "${inst_pids[@]}"; do rss_mib "$p"; echo; done | xargs)" | record
}

# load OUTPUT URL C SECONDS [wrk options]. The redirection stays on wrk itself: one on a function
# call would still be in force when a trap runs after wrk, sending cleanup's messages to OUTPUT.
load() {
  local output=$1 url=$2 c=$3 secs=$4 threads=2
  shift 4
  [ "$c" -ge 2 ] || threads=1
  BENCH_TOKEN=$token wrk -t"$threads" -c"$c" -d"${secs}s" --timeout "${wrk_timeout}s" "$@" \
    -s bench/api/query.lua "$url/query" >"$output" 2>&1
}
warm_up() { say "warm-up: ${warmup}s at c=8 on $1"; load /dev/null "$1" 8 "$warmup" || true; }

measure() { # measure POINT URL C THREADS CACHE
  local point=$1 url=$2 c=$3 threads=$4 cache=$5 busy0 total0 busy1 total1 ticks0 ticks1 line log
  log=$work/wrk-$point-c$c.txt
  say "$point: wrk -c$c -d${duration}s ($url)"
  local load1
  load1=$(cut -d' ' -f1 /proc/loadavg)
  read -r busy0 total0 < <(cpu_ticks)
  ticks0=$(ticks_of)
  load "$log" "$url" "$c" "$duration" --latency || true
  read -r busy1 total1 < <(cpu_ticks)
  ticks1=$(ticks_of)
  line=$(sed -n 's/^WRK_JSON //p' "$log")
  if [ -z "$line" ]; then cat "$log" >&2; return 0; fi
  python3 - "$line" "$run_id" "$point" "${#inst_pids[@]}" "$([ "$threads" = 0 ] && echo "$cores" || echo "$threads")" \
    "$cache" "$c" "$duration" "$n" "$load1" "$((busy1 - busy0))" "$((total1 - total0))" "$cores" \
    "$ticks0" "$ticks1" "$(for p in "${inst_pids[@]}"; do rss_mib "$p"; echo; done | xargs)" "$url" <<'PY' | record
import json, sys
a = sys.argv
t0, t1 = [int(x) for x in a[14].split()], [int(x) for x in a[15].split()]
per_core = int(a[12]) / int(a[13]) or 1  # elapsed ticks of one core
used = [round((y - x) / per_core, 2) for x, y in zip(t0, t1)]
inst = int(a[4])
r = {"bench": "fleet_query", "run": a[2], "point": a[3], "instances": inst,
     "via": "nginx" if "nginx" in a[3] else "direct", "embed_threads": int(a[5]), "question_cache": a[6],
     "concurrency": int(a[7]), "duration_s": int(a[8]), "chunks": int(a[9]), "load1_before": float(a[10]),
     "cpu_busy_cores": round(int(a[11]) / per_core, 2), "ragd_cpu_cores": round(sum(used[:inst]), 2),
     "ragd_cpu_cores_each": used[:inst], "nginx_cpu_cores": used[inst] if "nginx" in a[3] else None,
     "redis_cpu_cores": used[inst + 1], "postgres_cpu_cores": used[inst + 2],
     "ragd_rss_mib": [float(x) for x in a[16].split()], "url": a[17]}
r.update(json.loads(a[1]))
print(json.dumps(r))
PY
}

# ---------------------------------------------------------------- build, api.sh, services
mkdir -p "$work"
if [ "${BENCH_BUILD:-1}" = 1 ]; then
  say "cargo build --release -p ragd-server"
  cargo build -q --release -p ragd-server
fi
[ -x "$ragd" ] || { echo "no ragd binary at $ragd (BENCH_BUILD=1 or RAGD_BIN)" >&2; exit 1; }
if [ "${BENCH_FLEET_LIMITS:-1}" = 1 ]; then
  say "cargo bench --no-run -p ragd-backends --bench limits (compiled now, not during a measurement)"
  cargo bench -q --no-run -p ragd-backends --bench limits 2>&1 | grep -v '^ *Executable' >&2 || true
fi

api_source="this run"
if [ "${BENCH_FLEET_SKIP_API:-0}" = 1 ]; then
  api_source="latest api run (BENCH_FLEET_SKIP_API=1)"
  api_run=$(python3 - "$api_results" "$n" <<'PY'
import json, sys
runs = [r["run"] for r in map(json.loads, filter(str.strip, open(sys.argv[1])))
        if r.get("bench") == "api_query" and r.get("chunks") == int(sys.argv[2])]
print(runs[-1] if runs else "")
PY
  ) || api_run=''
else
  before=0
  [ ! -f "$api_results" ] || before=$(wc -l <"$api_results")
  say "bench/api.sh: BENCH_STACKS=\"${BENCH_STACKS:-python ragd}\", cold ragd (RAGD_QUERY_CACHE=0)"
  BENCH_STACKS=${BENCH_STACKS:-python ragd} BENCH_CONCURRENCY=$concurrency BENCH_DURATION=$duration \
    BENCH_API_PASSAGES=$n RAGD_QUERY_CACHE=0 BENCH_BUILD=0 RAGD_BIN=$ragd bench/api.sh
  api_run=$(tail -n +$((before + 1)) "$api_results" | python3 -c 'import json, sys
print(next((r["run"] for r in map(json.loads, filter(str.strip, sys.stdin)) if r.get("bench") == "api_query"), ""))')
fi
[ -n "$api_run" ] || say "no api run found in $api_results: the report has no python/embedded rows"
[ -d "$ragd_data" ] ||
  { echo "no $ragd_data: run bench/api.sh with BENCH_STACKS=ragd (BENCH_API_PASSAGES=$n) first" >&2; exit 1; }

say "PostgreSQL (fresh cluster in $work/pg) and Redis"
scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
rm -rf "$work/pg"
pg_url=$(scripts/postgres.sh start "$work/pg")
redis_url=$(scripts/redis.sh start "$work/redis")
say "ragd migrate --from $ragd_data --to $pg_url"
t0=$(now_ms)
"$ragd" migrate --from "$ragd_data" --to "$pg_url" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
migrate_ms=$(($(now_ms) - t0))
python3 -c 'import json, sys; a = sys.argv
print(json.dumps({"bench": "fleet_setup", "run": a[1], "api_run": a[2] or None, "api_run_source": a[3], "chunks": int(a[4]),
  "migrate_ms": int(a[5]), "cores": int(a[6]), "duration_s": int(a[7]), "concurrency": [int(c) for c in a[8].split()],
  "warmup_s": int(a[9]), "points": a[10].split(), "nginx": a[11], "nginx_worker_processes": 1, "redis": a[12],
  "embed_threads_default": int(a[6])}))' \
  "$run_id" "$api_run" "$api_source" "$n" "$migrate_ms" "$cores" "$duration" "$concurrency" "$warmup" "$points" \
  "$(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //')" "$(redis-server --version | cut -d' ' -f3)" | record

# ---------------------------------------------------------------- the points
say "run $run_id: $n chunks, wrk ${duration}s at c=$concurrency, $cores cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if want pg1-direct || want pg1-nginx; then
  stage 1 0 cold
  if want pg1-direct; then warm_up "${inst_bases[0]}"; fi
  if want pg1-nginx; then warm_up "$nginx_base"; fi
  for c in $concurrency; do
    if want pg1-direct; then measure pg1-direct "${inst_bases[0]}" "$c" 0 cold; fi
    if want pg1-nginx; then measure pg1-nginx "$nginx_base" "$c" 0 cold; fi
  done
fi
for point in pg3-nginx pg3-nginx-t1 pg3-nginx-warm; do
  want "$point" || continue
  threads=0 cache=cold
  [ "$point" != pg3-nginx-t1 ] || threads=1
  [ "$point" != pg3-nginx-warm ] || cache=warm
  stage 3 "$threads" "$cache"
  warm_up "$nginx_base"
  for c in $concurrency; do measure "$point" "$nginx_base" "$c" "$threads" "$cache"; done
done
stop_nginx
stop_instances

if [ "${BENCH_FLEET_LIMITS:-1}" = 1 ]; then
  say "rate-limit decisions, in process vs Redis (cargo bench -p ragd-backends --bench limits)"
  redis-cli -u "$redis_url" flushall >/dev/null
  RAGD_BENCH_REDIS_URL=$redis_url cargo bench -q -p ragd-backends --bench limits 2>"$work/limits.log" |
    python3 -c 'import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        r = json.loads(line); r["run"] = sys.argv[1]; print(json.dumps(r))' "$run_id" | record
fi

python3 bench/fleet_report.py "$results" --run "$run_id" --api-results "$api_results"
