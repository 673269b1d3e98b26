#!/usr/bin/env bash
# `make fuzz-api`: schemathesis (PyPI, pinned) generates requests from openapi.json and sends
# them to a real `ragd serve` (temporary data dir, the real model, a few documents) with a real
# admin token. The run fails on any 5xx and on any response that violates the schema.
#   MAX_EXAMPLES   test cases per operation (default 150: well over 2,000 requests in all)
#   RAGD           the binary (default: the debug build, built if missing)
#   RAGD_GENERATOR extractive by default: thousands of generated questions would each wait
#                  seconds for a model; RAGD_GENERATOR=local fuzzes with it (slow)
# `make test` runs a short pass (MAX_EXAMPLES=8) through tests/api/fuzz.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
max_examples=${MAX_EXAMPLES:-150}
target=${CARGO_TARGET_DIR:-target}
ragd=${RAGD:-$target/debug/ragd}
[ -x "$ragd" ] || cargo build -q --bin ragd
scripts/test-deps.sh >/dev/null
venv=$root/tests/fuzz/.venv

work=$(mktemp -d)
server=
# shellcheck disable=SC2317  # runs from the EXIT trap; shellcheck 0.9 calls a trap-only function
# unreachable when the script ends in `exit`
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
password=fuzz-admin-password-$RANDOM$RANDOM
# Created before the server starts: the loop below may read it before the server's shell has.
: >"$work/stdout"
RAGD_ENV_FILE='' RAGD_DATA_DIR="$work/data" RAGD_MODELS_DIR="$root/models" RAGD_PORT=0 \
  RAGD_REDOC_JS="$root/vendor/redoc/redoc.standalone.js" \
  JWT_SECRET_KEY="fuzz-$(date +%s%N)-0123456789abcdef0123456789" \
  RAGD_ADMIN_USERNAME=admin RAGD_ADMIN_PASSWORD="$password" \
  RATE_LIMIT_REQUESTS=100000000 RAGD_LOGIN_RATE_LIMIT=100000/1 RAGD_LOGIN_ACCOUNT_RATE_LIMIT=100000/1 \
  RAGD_PARSER_TIMEOUT_SECS=10 LOG_LEVEL=warn RAGD_GENERATOR="${RAGD_GENERATOR:-extractive}" \
  "$ragd" serve >"$work/stdout" 2>"$work/server.log" &
server=$!
base=
for _ in $(seq 600); do
  base=$(sed -n 's/^ragd listening on //p' "$work/stdout")
  [ -n "$base" ] && curl -sf "$base/health/ready" >/dev/null && break
  kill -0 "$server" || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
token=$(curl -sf -X POST "$base/auth/login" -d username=admin -d "password=$password" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for doc in tides-and-moon.txt volcano-types.html sourdough-bread.md; do
  curl -sf -X POST "$base/documents" -H "Authorization: Bearer $token" \
    -F "file=@tests/corpus/docs/$doc" >/dev/null
done

status=0
# From the scratch folder: schemathesis keeps a cache in its working directory.
(cd "$work" && "$venv/bin/schemathesis" run "$root/openapi.json" --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$max_examples" --seed "${SEED:-20261205}" --workers 2 \
  --generation-database none \
  --report ndjson --report-ndjson-path "$work/events.ndjson" \
  --no-color) || status=$?
python3 - "$work/events.ndjson" <<'PY'
import json, sys
calls = 0
for line in open(sys.argv[1]):
    calls += line.count('"request":')
print(f"fuzz-api: {calls} requests sent")
PY
if grep -q "panicked" "$work/server.log"; then
  echo "fuzz-api: the server logged a panic:"; grep -A5 panicked "$work/server.log"; status=1
fi
kill -0 "$server" || { echo "fuzz-api: the server died"; status=1; }
exit "$status"
