#!/usr/bin/env bash
# with-postgres.sh COMMAND...: runs COMMAND with a throwaway PostgreSQL + pgvector
# (scripts/postgres.sh) in a fresh directory, on loopback and a free port, its URL in
# RAGD_TEST_DATABASE_URL; stops it and removes its data afterwards whatever COMMAND's outcome.
# `make test` runs the test suite this way, so two runs on one machine never share a server.
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 COMMAND..." >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d "${TMPDIR:-/var/tmp}/ragd-test-pg.XXXXXX")"
cleanup() {
    "$here/postgres.sh" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
url="$("$here/postgres.sh" start "$dir")"
echo "PostgreSQL for the tests: $url (data in $dir)" >&2
RAGD_TEST_DATABASE_URL="$url" "$@"
