#!/usr/bin/env bash
# Answer generation: the local model's speed, /query latency with generation, what generation
# costs retrieval, answer quality and follow-up rewriting (bench/generation.py has the details).
# Every part runs the release `ragd serve` on a fresh copy of a data dir holding
# tests/corpus/docs/*; writes bench/out/generation.md (summary tables, also printed) and
# bench/out/generation.json (with every answer).
#
#   PARTS=speed,latency,contention,quality,followups   the parts to run (default: all)
#   MODELS="qwen2.5-coder-0.5b-instruct smollm2-135m-instruct"   local model ids (default these;
#                      qwen2.5-coder-1.5b-instruct also works); fetched by scripts/fetch-llm.sh
#                      when missing
#   ROUNDS=1           latency: passes over the answerable questions
#   THRESHOLD=0.3      /query and /search threshold (latency, contention, quality)
#   QUESTIONS=n        latency/quality: an evenly spread sample of n questions (default all 28)
#   CONVERSATIONS=n    followups: the first n conversations (default all 16)
#   SPEED_RUNS=3       speed: measured runs per model (the median is reported)
#   CONTENTION_SECS=20 contention: seconds of /search load per phase
#   CONTENTION_LLM_THREADS="2,1"   contention: RAGD_LLM_THREADS values ("default": unset)
#   FOLLOWUP_MODEL=id  followups: the model that rewrites (default the first of MODELS)
#   RAGD_BIN=path      the binary (default $CARGO_TARGET_DIR/release/ragd, built if missing)
#   BUILD=1            run `cargo build --release --bin ragd` first even if the binary exists
# Quick smoke run: PARTS=quality QUESTIONS=4 MODELS=smollm2-135m-instruct bench/generation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# ragd runs with its defaults and the settings given here, never a developer's .env.
export RAGD_ENV_FILE=
target=${CARGO_TARGET_DIR:-target}
ragd=${RAGD_BIN:-$target/release/ragd}
if [ -n "${BUILD:-}" ] || [ ! -x "$ragd" ]; then
  echo "== cargo build --release --bin ragd" >&2
  cargo build -q --release --bin ragd
fi
py=tests/clients/.venv/bin/python
if ! "$py" -c "import requests, tomllib" 2>/dev/null; then
  echo "error: $py with requests is needed (see tests/clients/README.md)" >&2
  exit 1
fi
models=${MODELS:-qwen2.5-coder-0.5b-instruct smollm2-135m-instruct}
export MODELS=$models
parts=${PARTS:-speed,latency,contention,quality,followups}
# the GGUF files (a no-op when they are present and verified)
# shellcheck disable=SC2086
scripts/fetch-llm.sh models ${models//,/ } >&2
out=$PWD/bench/out
mkdir -p "$out"
echo "== bench/generation.py: parts $parts; models $models" >&2
exec "$py" bench/generation.py "$ragd" "$out"
