#!/usr/bin/env bash
# The embedded-default demo: ingest the sample corpus, then ask it questions.
set -euo pipefail
ragd=${1:-target/release/ragd}
data=${2:-data}
export RAGD_DATA_DIR=$data
echo "== ingesting tests/corpus/docs into $data/ (unchanged files are skipped on later runs)"
"$ragd" ingest tests/corpus/docs
for q in "How long should a sourdough starter ferment?" "Como funciona a floresta amazônica?" "What does the WAL mode of SQLite change?"; do
  echo
  echo "== ragd query \"$q\""
  "$ragd" query "$q" || true
done
cat <<MSG

Try your own:   RAGD_DATA_DIR=$data $ragd query "your question" [--k 5] [--threshold 0.7] [--json]
Documents:      RAGD_DATA_DIR=$data $ragd documents list
Your files:     RAGD_DATA_DIR=$data $ragd ingest ~/notes --include '*.md'
MSG
