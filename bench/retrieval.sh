#!/usr/bin/env bash
# Retrieval quality and its cost, same run, release build:
#   1. `ragd eval` on every set under eval/sets (corpora from scripts/fetch-eval-corpus.sh), each
#      configuration of CONFIGS (dense, lexical, hybrid RRF, hybrid weighted, and +rerank when
#      `make reranker` has run), by passage and by document;
#   2. chunk sizes (CHUNKS) compared with `ragd eval --chunks` on the dense and hybrid modes;
#   3. ingestion of the pg-en corpus with and without the lexical index, interleaved ROUNDS times;
#   4. cold /query latency at c=1 (question cache off, extractive answer) in dense and hybrid
#      mode on that data dir, interleaved ROUNDS times, QUERIES questions each.
# Writes bench/out/retrieval/ (one JSON table per run and summary.txt).
# Usage: bench/retrieval.sh   (env: ROUNDS=2 QUERIES=200 CHUNKS=128/16,200/32,254/48 STEPS="eval chunks ingest query"
#        SETS="pg-en handbook-pt handbook-en" LEVELS="passage document" CHUNK_SETS="pg-en handbook-pt"
#        CONFIGS=... to override the configurations compared, RAGD_BIN=path to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE='' RAGD_GENERATOR=extractive LOG_LEVEL=warn RAGD_QUERY_CACHE=0
target=${CARGO_TARGET_DIR:-target}
ragd=${RAGD_BIN:-$target/release/ragd}
[ -n "${RAGD_BIN:-}" ] || cargo build -q --release --bin ragd
scripts/fetch-eval-corpus.sh >/dev/null
out=bench/out/retrieval
mkdir -p "$out"
# Data dirs kept between runs (one per set, model and chunk setting): unchanged corpora are not
# re-ingested. EVAL_WORK= to keep them elsewhere.
evalwork=${EVAL_WORK:-/var/tmp/ragd-eval-work}
model_tag=$(basename "${EMBEDDINGS_MODEL:-minilm}")
rounds=${ROUNDS:-2}
steps=${STEPS:-eval chunks ingest query}
configs=dense,lexical,hybrid:rrf,hybrid:weighted
if [ -f models/ms-marco-MiniLM-L-12-v2/model.onnx ]; then
  export RAGD_RERANK_MODEL=ms-marco-MiniLM-L-12-v2
  configs=$configs,hybrid:rrf+rerank
fi
configs=${CONFIGS:-$configs}
summary=$out/summary-$model_tag.txt
{
  echo "# bench/retrieval.sh $(date -u +%FT%TZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
} >>"$summary"

has() { case " $steps " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if has eval; then
  for name in ${SETS:-pg-en handbook-pt handbook-en}; do
    set=eval/sets/$name
    for level in ${LEVELS:-passage document}; do
      echo "## $name, relevance by $level (model ${EMBEDDINGS_MODEL:-all-MiniLM-L6-v2})" | tee -a "$summary"
      "$ragd" eval "$set" --corpus "eval/corpus/$name" --compare "$configs" --level "$level" \
        --work-dir "$evalwork/$model_tag/$name" >"$out/$model_tag-$name-$level.txt" 2>"$out/$model_tag-$name-$level.err"
      tee -a "$summary" <"$out/$model_tag-$name-$level.txt"
    done
  done
fi

if has chunks; then
  for name in ${CHUNK_SETS:-pg-en handbook-pt}; do
    echo "## chunk sizes, $name (relevance by passage)" | tee -a "$summary"
    "$ragd" eval "eval/sets/$name" --corpus "eval/corpus/$name" --compare dense,hybrid \
      --work-dir "$evalwork/$model_tag/$name" --chunks "${CHUNKS:-128/16,200/32,254/48}" >"$out/$model_tag-chunks-$name.txt" 2>"$out/$model_tag-chunks-$name.err"
    tee -a "$summary" <"$out/$model_tag-chunks-$name.txt"
  done
fi

work=$(mktemp -d /var/tmp/ragd-retrieval.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

if has ingest || has query; then
  echo "## ingestion of eval/corpus/pg-en (chunks/s), lexical index off vs on" | tee -a "$summary"
  for round in $(seq "$rounds"); do
    for lexical in false true; do
      rm -rf "$work/data"
      start=$(date +%s.%N)
      RAGD_DATA_DIR=$work/data RAGD_LEXICAL_INDEX=$lexical "$ragd" ingest --quiet --json \
        eval/corpus/pg-en >"$work/ingest.json"
      end=$(date +%s.%N)
      python3 - "$work/ingest.json" "$start" "$end" "$round" "$lexical" <<'PY' | tee -a "$summary"
import json, sys
s = json.load(open(sys.argv[1]))
secs = float(sys.argv[3]) - float(sys.argv[2])
print(f"round {sys.argv[4]} lexical={sys.argv[5]:5}: {s['chunks']} chunks in {s['seconds']:.1f}s "
      f"= {s['chunks'] / s['seconds']:.1f} chunks/s (process {secs:.1f}s)")
PY
    done
  done
  du -sh "$work/data/index" "$work/data/lexical" "$work/data/ragd.db" 2>/dev/null | tee -a "$summary" || true
fi

if has query; then
  echo "## cold /query at c=1 on pg-en (extractive, question cache off), ms" | tee -a "$summary"
  python3 - eval/sets/*/questions.jsonl >"$work/questions.txt" <<'PY'
import json, sys
seen = set()
for path in sys.argv[1:]:
    for line in open(path):
        q = json.loads(line)["question"]
        if q not in seen:
            seen.add(q)
            print(q)
PY
  for round in $(seq "$rounds"); do
    for mode in dense hybrid; do
      RAGD_DATA_DIR=$work/data RAGD_HOST=127.0.0.1 RAGD_PORT=0 RAGD_SEARCH_MODE=$mode \
        JWT_SECRET_KEY=retrieval-bench-secret-0123456789abcdef RAGD_ADMIN_USERNAME=bench \
        RAGD_ADMIN_PASSWORD=bench-password-123 RATE_LIMIT_REQUESTS=1000000000 \
        "$ragd" serve >"$work/serve.out" 2>"$work/serve.err" &
      pid=$!
      for _ in $(seq 600); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
      url=$(sed -n 's/^ragd listening on //p' "$work/serve.out")
      for _ in $(seq 600); do curl -sf "$url/health/ready" >/dev/null && break; sleep 0.05; done
      python3 - "$url" "$work/questions.txt" "${QUERIES:-200}" "$mode" "$round" <<'PY' | tee -a "$summary"
import http.client, json, statistics, sys, time, urllib.parse
url, path, n, mode, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
def post(p, body, headers):
    c.request("POST", p, json.dumps(body), {"Content-Type": "application/json", **headers})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"{p}: {r.status} {data[:200]!r}")
    return json.loads(data)
token = post("/auth/login", {"username": "bench", "password": "bench-password-123"}, {})["access_token"]
auth = {"Authorization": f"Bearer {token}"}
qs = [q.strip() for q in open(path) if q.strip()]
for q in qs[:5]:
    post("/query", {"query": q, "threshold": 0.0}, auth)
ms = []
for q in (qs * (n // len(qs) + 1))[:n]:
    t = time.perf_counter()
    post("/query", {"query": q, "threshold": 0.0}, auth)
    ms.append((time.perf_counter() - t) * 1e3)
ms.sort()
print(f"round {rnd} {mode:6}: p50 {statistics.median(ms):.2f} p90 {ms[int(len(ms) * 0.9)]:.2f} "
      f"p99 {ms[int(len(ms) * 0.99)]:.2f} (n={len(ms)})")
PY
      kill "$pid"
      wait "$pid" 2>/dev/null || true
      pid=
    done
  done
fi
echo "bench/retrieval.sh: wrote $summary"
