#!/usr/bin/env bash
# `make bench`: ragd against Python sentence-transformers on the same texts, in the same run.
# Results: one JSON object per line in bench/out/results.jsonl (and on the terminal).
#   1. embedding throughput, batch 32, ~120-word passages: sentence-transformers vs ragd
#   2. end-to-end ingestion (chunks/s) and peak RSS of `ragd ingest` on ~10k chunks
#   3. ANN at 10k and 100k vectors: build time, recall@10 vs exact, search and query latency
# BENCH_QUICK=1 shrinks every size (for trying the script, not for figures).
set -euo pipefail
# The retrieval path is measured with the extractive answer (bench/generation.sh measures models).
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
# ragd runs with its defaults and the settings given here, never a developer's .env.
export RAGD_ENV_FILE=
out=$PWD/bench/out
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
quick=${BENCH_QUICK:-}
n_embed=${BENCH_EMBED_PASSAGES:-2000}
n_ingest=${BENCH_INGEST_PASSAGES:-10000}
n_search=${BENCH_SEARCH_VECTORS:-100000}
if [ -n "$quick" ]; then n_embed=128; n_ingest=400; n_search=4000; fi

# Real prose for ingestion and search: Debian's Python, PostgreSQL and Linux documentation.
doc_packages=python3.11-doc,postgresql-doc-15,linux-doc-6.1
venv=.venv
if ! "$venv/bin/python" -c "import sentence_transformers" 2>/dev/null; then
  echo "== installing sentence-transformers into $venv (once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet sentence-transformers
fi
py=$venv/bin/python
record() { tee -a "$results"; }

passages=$out/passages-$n_embed.jsonl
[ -s "$passages" ] || "$py" bench/make_passages.py "$n_embed" "$passages"

echo "== 1. embedding throughput ($n_embed passages of ~120 words, batch 32)"
"$py" bench/st_embed.py "$passages" --batch 32 | record
# ragd's default (OpenVINO, precision auto), then the alternatives: OpenVINO fp32, ONNX Runtime.
for engine in ${BENCH_EMBED_ENGINES:-openvino:auto openvino:f32 onnxruntime:auto}; do
  RAGD_EMBED_ENGINE=${engine%%:*} RAGD_EMBED_PRECISION=${engine##*:} \
    cargo bench -q -p ragd-backends --bench engine -- embed "$passages" | record
done
for variant in ${BENCH_ONNX_VARIANTS:-}; do
  RAGD_EMBED_ENGINE=onnxruntime RAGD_EMBEDDINGS_ONNX=$variant \
    cargo bench -q -p ragd-backends --bench engine -- embed "$passages" | record
done

echo "== 2. ingestion of ~$n_ingest passages (end to end: read, extract, chunk, embed, store, index)"
cargo build -q --release --bin ragd
ingest_src=$out/ingest-$n_ingest
if [ ! -d "$ingest_src" ]; then
  "$py" bench/make_passages.py "$n_ingest" "$out/ingest-passages.jsonl" --packages "$doc_packages"
  "$py" - "$out/ingest-passages.jsonl" "$ingest_src" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
texts = [json.loads(l)["text"] for l in open(src)]
for i in range(0, len(texts), 20):
    with open(os.path.join(dst, f"doc-{i // 20:05d}.md"), "w") as f:
        f.write(f"# Document {i // 20}\n\n" + "\n\n".join(texts[i:i + 20]) + "\n")
PY
fi
rm -rf "$out/ingest-data"
"$py" bench/measure.py ingest -- env RAGD_DATA_DIR="$out/ingest-data" "${CARGO_TARGET_DIR:-target}/release/ragd" ingest "$ingest_src" --json --quiet | record

echo "== 3. vector search at 10k and $n_search vectors (real embeddings)"
search_passages=$out/search-passages-$n_search.jsonl
vectors=$out/vectors-$n_search.f32
[ -s "$search_passages" ] || "$py" bench/make_passages.py "$((n_search + 200))" "$search_passages" --words 40 --packages "$doc_packages"
if [ ! -s "$vectors" ]; then
  head -n "$n_search" "$search_passages" >"$out/search-corpus.jsonl"
  cargo bench -q -p ragd-backends --bench engine -- vectors "$out/search-corpus.jsonl" "$vectors"
fi
tail -n 200 "$search_passages" >"$out/search-queries.jsonl"
sizes=10000,$n_search
[ -n "$quick" ] && sizes=1000,$n_search
cargo bench -q -p ragd-backends --bench engine -- search "$vectors" "$out/search-queries.jsonl" "$sizes" | record
echo "== results in $results"
