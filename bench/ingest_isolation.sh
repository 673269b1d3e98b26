#!/usr/bin/env bash
# Ingestion cost of the hardening settings, interleaved on the same corpus in the same run:
#   RAGD_PARSER_ISOLATION=process (default: each document parsed in a sandboxed child process)
#     against off (parsed inside ragd, as before);
#   RAGD_SQLITE_SYNCHRONOUS=full (default: each document synced before it is acknowledged)
#     against normal (synced at checkpoints).
# Corpus: real HTML pages and PDF manuals from Debian packages (postgresql-doc-15,
# texlive-latex-recommended-doc), fetched once into bench/out/isolation-corpus.
# RUNS (2) rounds; HTML (300) and PDF (12) files. Results appended to bench/out/results.jsonl.
set -euo pipefail
# The retrieval path is measured with the extractive answer (bench/generation.sh measures models).
export RAGD_GENERATOR=${RAGD_GENERATOR:-extractive}
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE=
out=$PWD/bench/out
mkdir -p "$out"
corpus=$out/isolation-corpus
if [ ! -d "$corpus" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download postgresql-doc-15 texlive-latex-recommended-doc >/dev/null 2>&1)
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
  mkdir -p "$corpus.partial"
  # sed, not head: head would close the pipe early and fail the script under pipefail.
  { find "$tmp/x" -name '*.html' | sort | sed -n "1,${HTML:-300}p"
    find "$tmp/x" -name '*.pdf' | sort | sed -n "1,${PDF:-12}p"; } |
    nl -w4 -nrz | while read -r n path; do cp "$path" "$corpus.partial/$n-$(basename "$path")"; done
  mv "$corpus.partial" "$corpus"
  rm -rf "$tmp"
fi
cargo build -q --release --bin ragd
ragd=${CARGO_TARGET_DIR:-target}/release/ragd
for round in $(seq "${RUNS:-2}"); do
  for setting in RAGD_PARSER_ISOLATION=process RAGD_PARSER_ISOLATION=off RAGD_SQLITE_SYNCHRONOUS=normal; do
    rm -rf "$out/isolation-data"
    env "$setting" RAGD_DATA_DIR="$out/isolation-data" RAGD_MODELS_DIR="$PWD/models" \
      "$ragd" ingest "$corpus" --json --quiet >"$out/isolation-run.json" || true
    python3 - "$setting" "$round" "$out/isolation-run.json" <<'PY' | tee -a "$out/results.jsonl"
import json, sys
setting, round_, path = sys.argv[1], sys.argv[2], sys.argv[3]
s = json.load(open(path))
print(json.dumps({"bench": "ingest_settings", "setting": setting, "round": int(round_),
                  "files": len(s["files"]), "failed": s["failed"], "chunks": s["chunks"],
                  "seconds": round(s["seconds"], 2), "chunks_per_s": round(s["chunks"] / s["seconds"], 1)}))
PY
  done
done
