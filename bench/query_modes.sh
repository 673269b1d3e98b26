#!/usr/bin/env bash
# The embedded store against PostgreSQL + pgvector at the HTTP level, same corpus, same run:
#   - ingestion through `ragd ingest` (the real model; chunks/s) into a data dir, and into
#     PostgreSQL (DATABASE_URL, a fresh database)
#   - `ragd migrate` of the data dir into another fresh database (no re-embedding)
#   - cold /query load at C=8 with wrk (bench/query_load.sh, question cache off), the two modes
#     interleaved ROUNDS times (default 2)
# Corpus: the first PASSAGES (default 5000) 120-word passages of Debian's python3.11-doc
# (bench/make_passages.py), one file each. PostgreSQL: a throwaway 18 + pgvector 0.8
# (scripts/with-postgres.sh; its test settings — fsync off — favour the PostgreSQL ingest figure).
# Writes bench/out/query_modes.txt.
set -euo pipefail
# The retrieval path is measured with the extractive answer (bench/generation.sh measures models).
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE=
if [ -z "${RAGD_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-postgres.sh "$0" "$@"
fi
target=${CARGO_TARGET_DIR:-target}
ragd=$target/release/ragd
cargo build -q --release --bin ragd
n=${PASSAGES:-5000}
out=$PWD/bench/out
mkdir -p "$out"
work=$(mktemp -d /var/tmp/ragd-query-modes.XXXXXX)
trap 'rm -rf "$work"' EXIT
passages=$out/stores-passages-10200.jsonl
[ -s "$passages" ] || bench/stores.sh >/dev/null # makes (and embeds) the passages once
python3 - "$passages" "$work/corpus" "$n" <<'PY'
import json, os, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(dst)
for i, line in enumerate(open(src)):
    if i >= n:
        break
    with open(os.path.join(dst, f"p{i:05}.txt"), "w") as f:
        f.write(json.loads(line)["text"])
PY
admin=$RAGD_TEST_DATABASE_URL
fresh() { # a new database on the server, its URL on stdout
  local name
  name="b_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  models/postgres/bin/psql "$admin" -qc "CREATE DATABASE $name" >/dev/null
  echo "${admin%/*}/$name"
}
common=(env RAGD_EMBED_THREADS=2 RAGD_ADMIN_USERNAME=bench RAGD_ADMIN_PASSWORD=ragd-bench-password)
timed_ingest() { # label, data dir, extra env...: prints chunks/s
  local label=$1 data=$2; shift 2
  local t0=$SECONDS
  "${common[@]}" RAGD_DATA_DIR="$data" "$@" "$ragd" ingest "$work/corpus" --quiet --json >"$work/$label.json"
  python3 - "$work/$label.json" "$label" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"ingest {sys.argv[2]:<10} {s['ingested']} files, {s['chunks']} chunks in {s['seconds']:.1f} s: {s['chunks'] / s['seconds']:.1f} chunks/s")
PY
}
{
  echo "== ragd $(git rev-parse --short HEAD), $n passages, $(nproc) cores"
  timed_ingest sqlite "$work/sqlite"
  pg_ingest=$(fresh)
  timed_ingest postgres "$work/pg-ingest" DATABASE_URL="$pg_ingest"
  pg=$(fresh)
  t0=$(date +%s.%N)
  "${common[@]}" RAGD_DATA_DIR="$work/sqlite" "$ragd" migrate --to "$pg" >"$work/migrate.json" 2>/dev/null
  t1=$(date +%s.%N)
  python3 -c "import json,sys; r=json.load(open('$work/migrate.json')); print(f\"migrate: {r['documents_copied']} documents, {r['chunks_copied']} chunks in {$t1-$t0:.1f} s, verified {r['verified']}\")"
  # The bench user of query_load.sh exists in both (created at ingest, copied by migrate).
  mkdir -p "$work/pg-serve"
  for round in $(seq "${ROUNDS:-2}"); do
    echo "-- round $round: embedded (SQLite + HNSW)"
    C=${C:-8} RAGD="$ragd" DATA="$work/sqlite" bench/query_load.sh
    echo "-- round $round: PostgreSQL + pgvector"
    C=${C:-8} RAGD="$ragd" DATA="$work/pg-serve" EXTRA="DATABASE_URL=$pg" bench/query_load.sh
  done
} 2>&1 | tee "$out/query_modes.txt"
