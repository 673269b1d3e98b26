#!/usr/bin/env bash
# `make run`: ingest the sample corpus (unchanged files are skipped), make sure a .env with a random
# JWT secret and admin password exists, then run the server on the embedded default.
set -euo pipefail
ragd=${1:-target/release/ragd}
data=${2:-data}
export RAGD_DATA_DIR=$data

if [ ! -f .env ]; then
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(15))')
  sed -e "s|^JWT_SECRET_KEY=.*|JWT_SECRET_KEY=\"$secret\"|" \
      -e "s|^# RAGD_ADMIN_USERNAME=.*|RAGD_ADMIN_USERNAME=admin|" \
      -e "s|^# RAGD_ADMIN_PASSWORD=.*|RAGD_ADMIN_PASSWORD=\"$password\"|" \
      -e "s|^LOG_FORMAT=json|LOG_FORMAT=text|" \
      .env.example > .env
  chmod 600 .env
  echo "== wrote .env with a random JWT secret and admin password (keep it private)"
fi
# Older .env files pinned ONNX Runtime's fused graph, which the default OpenVINO engine cannot read.
if grep -q '^RAGD_EMBEDDINGS_ONNX=onnx/model_fused_fp32.onnx' .env && ! grep -q '^RAGD_EMBED_ENGINE=' .env; then
  sed -i 's|^RAGD_EMBEDDINGS_ONNX=onnx/model_fused_fp32.onnx|# RAGD_EMBEDDINGS_ONNX=onnx/model_fp32.onnx  (engine default)|' .env
  echo "== .env: RAGD_EMBEDDINGS_ONNX now follows the embedding engine's default"
fi
echo "== ingesting tests/corpus/docs into $data/"
"$ragd" ingest --quiet tests/corpus/docs
user=$(sed -n 's/^RAGD_ADMIN_USERNAME=//p' .env | tr -d '"')
pass=$(sed -n 's/^RAGD_ADMIN_PASSWORD=//p' .env | tr -d '"')
port=$(sed -n 's/^RAGD_PORT=//p' .env); port=${port:-8000}
cat <<MSG

== starting ragd on http://127.0.0.1:$port  (Ctrl-C stops it)
   API docs:  http://127.0.0.1:$port/docs  and  /redoc
   Log in:    curl -s -X POST http://127.0.0.1:$port/auth/login -d username=${user:-admin} -d password='${pass:-<see .env>}'
   Ask:       curl -s -X POST http://127.0.0.1:$port/query -H "Authorization: Bearer \$TOKEN" \\
                -H 'Content-Type: application/json' -d '{"query": "How long should a sourdough starter ferment?"}'

MSG
exec "$ragd" serve
