#!/usr/bin/env bash
# The two document stores side by side, same documents, same queries, same run: the embedded one
# (SQLite + the in-process HNSW index) and PostgreSQL + pgvector
# (crates/ragd-backends/benches/stores.rs says what is measured and how).
# Results: one JSON object per line in bench/out/stores.jsonl, then a table.
#   1. passages: distinct windows of 100 words of Debian's python3.11-doc (bench/make_passages.py),
#      10,000 for the corpus and BENCH_QUERIES (200) held out as queries
#   2. their all-MiniLM-L6-v2 vectors (the engine bench's `vectors`; ~2 min, kept in bench/out)
#   3. the bench (release build) against a throwaway PostgreSQL 18 + pgvector 0.8
#      (scripts/with-postgres.sh: its test settings, fsync off, are in the results)
# BENCH_STORES_SIZES (10000,100000) are the corpus sizes; BENCH_EF (100), BENCH_STORES and the
# bench's other settings pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
# ragd's settings are its defaults and the ones given here, never a developer's .env.
export RAGD_ENV_FILE=
out=$PWD/bench/out
mkdir -p "$out"
results=$out/stores.jsonl
n=$((10000 + ${BENCH_QUERIES:-200}))
passages=$out/stores-passages-$n.jsonl
vectors=$out/stores-vectors-$n.f32

if [ ! -s "$passages" ]; then
  # 100 words: python3.11-doc has ~11,300 windows of 100 words, ~9,400 of 120; a few pages
  # repeat passages word for word, so a few more are made and the first $n distinct kept.
  python3 bench/make_passages.py "$((n + 800))" "$passages.all" --packages python3.11-doc --words 100
  python3 - "$passages.all" "$n" "$passages" <<'PY'
import sys
lines, n, seen = open(sys.argv[1]).readlines(), int(sys.argv[2]), set()
distinct = [l for l in lines if not (l in seen or seen.add(l))]
if len(distinct) < n:
    sys.exit(f"only {len(distinct)} distinct passages, {n} needed")
open(sys.argv[3], "w").writelines(distinct[:n])
PY
  rm "$passages.all"
fi
if [ ! -s "$vectors" ]; then
  echo "== embedding $n passages (once)"
  cargo bench -q -p ragd-backends --bench engine -- vectors "$passages" "$vectors.tmp"
  mv "$vectors.tmp" "$vectors"
fi
cargo bench -q -p ragd-backends --bench stores --no-run
if pgrep -x rustc >/dev/null; then
  echo "warning: a compiler is running: the figures will be polluted" >&2
fi
echo "== document stores: embedded (SQLite + HNSW) and PostgreSQL + pgvector"
started=$SECONDS
scripts/with-postgres.sh cargo bench -q -p ragd-backends --bench stores -- \
  "$vectors" "$passages" "${BENCH_STORES_SIZES:-10000,100000}" | tee "$results"
echo "== $((SECONDS - started)) s; results in $results"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def of(kind):
    return [r for r in rows if r["bench"] == kind]
for pg in of("stores_postgres"):
    settings = ("shared_buffers", "maintenance_work_mem", "fsync", "synchronous_commit")
    print(f'PostgreSQL {pg["server_version"]}, pgvector {pg["pgvector"]}:',
          ", ".join(f"{k}={pg[k]}" for k in settings))
ingest = {(r["size"], r["store"]): r for r in of("stores_ingest")}
rebuild = {}
for r in of("stores_rebuild"):
    memory = f' ({r["maintenance_work_mem"]})' if r["maintenance_work_mem"] else ""
    rebuild.setdefault((r["size"], r["store"]), []).append(f'{r["seconds"]:.1f}{memory}')
table = [("size", "store", "ingest chunks/s", "rebuild s", "ef", "tenant", "chunks", "path",
          "p50 ms", "p99 ms", "recall@10")]
for s in of("stores_search"):
    key = (s["size"], s["store"])
    table.append((s["size"], s["store"], f'{ingest[key]["chunks_per_s"]:.0f}',
                  " ".join(rebuild.get(key, [])), s["ef"], s["tenant"], s["tenant_chunks"],
                  s["path"], f'{s["p50_ms"]:.2f}', f'{s["p99_ms"]:.2f}',
                  f'{s["recall_at_10"]:.4f}'))
for f in of("stores_footprint"):
    sizes = ", ".join(f"{k[:-4]} {v:.0f} MiB" for k, v in f.items() if k.endswith("_mib"))
    process = f["process"]
    print(f'{f["size"]} {f["store"]}: {sizes}; bench process RSS',
          f'{process["rss_before_mib"]:.0f} MiB before the store,',
          f'peak {process["peak_rss_mib"]:.0f} MiB')
widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
for row in table:
    print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
PY
