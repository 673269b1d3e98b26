#!/usr/bin/env bash
# The test suite's non-Rust dependencies: a venv with `requests` for the chapter's Python client
# (tests/clients/requirements.txt), and node (>= 18, for fetch and node:test) for its TypeScript one.
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
"$venv/bin/python" -c "import requests" && echo "test deps: ready ($venv, node $(node --version))"
