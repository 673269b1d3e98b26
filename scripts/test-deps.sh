#!/usr/bin/env bash
# The test suite's non-Rust dependencies: a venv with `requests` for the chapter's Python client
# and the official `openai` package (tests/clients/requirements.txt), node (>= 18, for fetch and node:test) for its TypeScript one,
# typescript for the README's TypeScript webhook recipe, and a venv with schemathesis (tests/fuzz/requirements.txt) for the API fuzzing.
set -euo pipefail

venv=tests/clients/.venv
req=tests/clients/requirements.txt
stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
command -v node >/dev/null || { echo "node is needed by the client tests (apt-get install nodejs)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is needed to make the test keys of the OIDC tests (apt-get install openssl)" >&2; exit 1; }
if [ ! -f "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  touch "$stamp"
fi
"$venv/bin/python" -c "import requests, openai" && echo "test deps: ready ($venv, node $(node --version))"

# TypeScript (tsc, and @types/node for node's own modules) to type-check the README's TypeScript
# webhook recipe before the tests run it: the exact versions of the recipes' package-lock.json,
# installed with `npm ci` inside the git-ignored venv (reinstalled when the lock file changes).
recipes=crates/ragd-server/tests/api/webhook_recipes
ts_dir="$venv/typescript"
ts_stamp="$ts_dir/.installed-$(cat "$recipes/package.json" "$recipes/package-lock.json" | sha256sum | cut -c1-16)"
command -v npm >/dev/null || { echo "npm is needed to install typescript for the webhook recipe tests (apt-get install npm)" >&2; exit 1; }
if [ ! -f "$ts_stamp" ]; then
  rm -rf "$ts_dir"
  mkdir -p "$ts_dir"
  cp "$recipes/package.json" "$recipes/package-lock.json" "$ts_dir/"
  (cd "$ts_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$ts_stamp"
fi
echo "test deps: tsc $("$ts_dir/node_modules/.bin/tsc" --version) ($ts_dir)"

# schemathesis for the API fuzzing (scripts/fuzz-api.sh: a short pass in the tests, `make fuzz-api`).
fuzz_venv=tests/fuzz/.venv
fuzz_req=tests/fuzz/requirements.txt
fuzz_stamp="$fuzz_venv/.installed-$(sha256sum "$fuzz_req" | cut -c1-16)"
if [ ! -f "$fuzz_stamp" ]; then
  rm -rf "$fuzz_venv"
  python3 -m venv "$fuzz_venv"
  "$fuzz_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$fuzz_req"
  touch "$fuzz_stamp"
fi
echo "test deps: $("$fuzz_venv/bin/schemathesis" --version)"
