#!/usr/bin/env bash
# The security overhead benchmark (issue: auth + rate limiting + guardrails add ≤ 0.5 ms p50 to
# /query): ingests the sample corpus into a temporary data dir, runs the release `ragd serve`
# with RAGD_SERVER_TIMING=true and the question cache on, sends N sequential /query requests and
# reports the p50/p99 of each stage from the Server-Timing headers (bench/overhead.py).
# Usage: bench/overhead.sh [N]   (appends to bench/out/results.jsonl)
set -euo pipefail
# The retrieval path is measured with the extractive answer (bench/generation.sh measures models).
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
# ragd runs with its defaults and the settings given here, never a developer's .env.
export RAGD_ENV_FILE=
n=${1:-2000}
ragd=${RAGD_BIN:-${CARGO_TARGET_DIR:-target}/release/ragd}
[ -x "$ragd" ] || cargo build -q --release --bin ragd
py=python3
[ -x tests/clients/.venv/bin/python ] && py=tests/clients/.venv/bin/python
data=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
export RAGD_DATA_DIR=$data RAGD_HOST=127.0.0.1 RAGD_PORT=0 LOG_LEVEL=warn \
  JWT_SECRET_KEY=overhead-bench-secret-0123456789abcdef RAGD_ADMIN_USERNAME=bench \
  RAGD_ADMIN_PASSWORD=bench-password-123 RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW=60 \
  RAGD_SERVER_TIMING=true
"$ragd" ingest --quiet tests/corpus/docs >/dev/null
"$ragd" serve >"$data/serve.out" 2>"$data/serve.err" &
pid=$!
for _ in $(seq 200); do grep -q "listening on" "$data/serve.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^ragd listening on //p' "$data/serve.out")
for _ in $(seq 600); do curl -sf "$url/health/ready" >/dev/null && break; sleep 0.05; done
mkdir -p bench/out
"$py" bench/overhead.py "$url" bench bench-password-123 bench/api/questions.txt "$n" | tee -a bench/out/results.jsonl
