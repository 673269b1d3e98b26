#!/usr/bin/env bash
# Fetches what ragd loads into DIR: all-MiniLM-L6-v2 and OpenVINO (scripts/fetch-model.sh) and the
# local answer model $RAGD_LLM (scripts/fetch-llm.sh; "none" for none), every file checked against
# its pinned sha256. Idempotent: verified files are kept. With --prune (the baked image), the
# files only the other engine or the converter read are removed afterwards, which makes the
# directory smaller but not re-verifiable by this script.
# Usage: ragd-fetch-models [--prune] DIR
set -euo pipefail

prune=
if [ "${1:-}" = --prune ]; then prune=1; shift; fi
dir=${1:?usage: ragd-fetch-models [--prune] DIR}
lib=/usr/local/lib/ragd
llm=${RAGD_LLM:-none}

mkdir -p "$dir"
# The converters run from a venv: a read-only container's /tmp is often a noexec tmpfs, so the
# scratch space is next to the models, on the volume.
TMPDIR=$(mktemp -d "$dir/.fetch.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
bash "$lib/fetch-model.sh" "$dir"
if [ "$llm" != none ]; then
  bash "$lib/fetch-llm.sh" "$dir" "$llm"
fi
if [ -n "$prune" ]; then
  # The OpenVINO engine (the image's) reads the fp32 ONNX graph or its fp16 IR; the rest serves
  # ONNX Runtime (not in the image) or the converter.
  rm -rf "$dir/onnxruntime" "$dir/all-MiniLM-L6-v2/model.safetensors" \
    "$dir/all-MiniLM-L6-v2/onnx/model_int8.onnx" "$dir/all-MiniLM-L6-v2/onnx/model_fused_fp32.onnx"
fi
echo "models: $dir ready ($(du -sh "$dir" | cut -f1))"
