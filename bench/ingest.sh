#!/usr/bin/env bash
# bench/ingest.sh (make bench-ingest): ingestion against the chapter's Python stack, bytes per
# second on the same files, in the same run, interleaved.
#
# The files: the first FILES pages of the Python 3.11 library reference as plain text (the reST
# sources Debian's python3.11-doc ships, html/_sources/library/*.rst.txt, fetched with apt-get).
#   python — bench/api/python_stack/ingest_files.py: LangChain's recursive splitter (1,000
#            characters, 200 overlap), sentence-transformers all-MiniLM-L6-v2 in batches of 32,
#            Chroma (a fresh persistent collection each round);
#   ragd   — `ragd ingest DIR` into a fresh data dir (its defaults: 200-token chunks, 32 overlap,
#            the embedded store and both indexes).
# Each side runs as its own process, model loading included; the figure is the files' bytes over
# the wall time, and peak RSS comes from /usr/bin/time.
#   FILES=77  ROUNDS=2  STACKS="python ragd"  RAGD_BIN=path (default: built here, release)
# Needs bench/api.sh's venv (bench/out/api-venv: `make bench-api` once). Results: JSON lines in
# bench/out/ingest.jsonl, a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export RAGD_ENV_FILE=
root=$PWD
work=$root/bench/out/ingest
files=${FILES:-77}
rounds=${ROUNDS:-2}
stacks=${STACKS:-python ragd}
venv=$root/bench/out/api-venv
model_dir=$root/models/all-MiniLM-L6-v2
out=$root/bench/out/ingest.jsonl
run_id=ingest-$(date -u +%Y%m%dT%H%M%SZ)
export ANONYMIZED_TELEMETRY=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

say() { printf '== %s\n' "$*" >&2; }
[ -x "$venv/bin/python" ] || { echo "no $venv: run 'make bench-api' once first" >&2; exit 1; }
"$venv/bin/python" -c 'import langchain_text_splitters' 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/api/requirements.txt
ragd=${RAGD_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/ragd}
if [ -z "${RAGD_BIN:-}" ]; then
  say "cargo build --release -p ragd-server"
  cargo build -q --release -p ragd-server
fi

corpus=$work/files-$files
if [ ! -d "$corpus" ]; then
  mkdir -p "$work/deb"
  if ! ls "$work"/deb/python3.11-doc_*.deb >/dev/null 2>&1; then
    (cd "$work/deb" && apt-get download python3.11-doc >/dev/null)
  fi
  rm -rf "$work/x" && dpkg-deb -x "$(find "$work/deb" -name 'python3.11-doc_*.deb' | head -1)" "$work/x"
  mkdir -p "$corpus.tmp"
  find "$work/x" -path '*/_sources/library/*.rst.txt' | sort | head -n "$files" |
    while read -r f; do cp "$f" "$corpus.tmp/$(basename "$f" .rst.txt).txt"; done
  rm -rf "$work/x"
  mv "$corpus.tmp" "$corpus"
fi
bytes=$(cat "$corpus"/* | wc -c)
nfiles=$(find "$corpus" -type f | wc -l)
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores)"
say "run $run_id on $cpu: $nfiles files, $bytes bytes, $rounds rounds"

record() { # record STACK ROUND WALL_S PEAK_KIB CHUNKS
  python3 -c 'import json, sys; a = sys.argv
wall, b = float(a[4]), int(a[7])
print(json.dumps({"bench": "ingest", "run": a[1], "stack": a[2], "round": int(a[3]), "files": int(a[8]),
  "bytes": b, "chunks": int(a[6]), "wall_s": wall, "bytes_per_s": round(b / wall, 1),
  "chunks_per_s": round(int(a[6]) / wall, 1), "peak_rss_mib": round(int(a[5]) / 1024), "cpu": a[9]}))' \
    "$run_id" "$1" "$2" "$3" "$4" "$5" "$bytes" "$nfiles" "$cpu" | tee -a "$out"
}

for round in $(seq "$rounds"); do
  for stack in $stacks; do
    say "round $round: $stack"
    rm -rf "$work/target-$stack"
    mkdir -p "$work/target-$stack"
    case $stack in
      python)
        /usr/bin/time -f '%e %M' -o "$work/time.txt" "$venv/bin/python" bench/api/python_stack/ingest_files.py \
          "$corpus" --db "$work/target-python" --model "$model_dir" >"$work/python.json"
        chunks=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["chunks"])' "$work/python.json")
        ;;
      ragd)
        RAGD_DATA_DIR=$work/target-ragd /usr/bin/time -f '%e %M' -o "$work/time.txt" \
          "$ragd" ingest "$corpus" --json --quiet >"$work/ragd.json"
        chunks=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["chunks"])' "$work/ragd.json")
        ;;
      *) echo "unknown stack $stack" >&2; exit 2 ;;
    esac
    read -r wall peak <"$work/time.txt"
    record "$stack" "$round" "$wall" "$peak" "$chunks" >/dev/null
    say "  $wall s, $chunks chunks, peak RSS $((peak / 1024)) MiB"
  done
done

python3 - "$out" "$run_id" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()] if os.path.exists(sys.argv[1]) else []
rows = [r for r in rows if r.get("run") == sys.argv[2]]
if not rows:
    sys.exit(0)
print(f"\n### Ingestion, {rows[0]['files']} files, {rows[0]['bytes']:,} bytes — {rows[0]['cpu']}\n")
print("| stack | bytes/s (rounds) | chunks | chunks/s | wall s | peak RSS MiB |")
print("|---|---|---|---|---|---|")
med = {}
for stack in dict.fromkeys(r["stack"] for r in rows):
    rs = [r for r in rows if r["stack"] == stack]
    med[stack] = statistics.median(r["bytes_per_s"] for r in rs)
    print(f"| {stack} | {med[stack]:,.0f} ({', '.join(format(r['bytes_per_s'], ',.0f') for r in rs)}) | {rs[0]['chunks']} "
          f"| {statistics.median(r['chunks_per_s'] for r in rs):.1f} | {statistics.median(r['wall_s'] for r in rs):.1f} "
          f"| {max(r['peak_rss_mib'] for r in rs)} |")
if "python" in med and "ragd" in med:
    print(f"\nragd / chapter's stack, bytes per second: {med['ragd'] / med['python']:.1f}×")
PY
