#!/usr/bin/env bash
# The Python of the test suite's OTLP/HTTP trace receiver (crates/ragd-server/tests/api/
# otlp_receiver.py): a venv of its own with opentelemetry-proto from PyPI, made once and then
# used offline.
#
#   scripts/otlp-receiver.sh fetch    make the venv models/otlp/venv (idempotent)
#   scripts/otlp-receiver.sh python   print the venv's python (making the venv first if needed)
#
# RAGD_OTLP_VENV overrides the venv (default: models/otlp/venv in the repository); PYTHON the
# interpreter that makes it (default python3).
set -euo pipefail

proto_version=1.45.2
python=${PYTHON:-python3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${RAGD_OTLP_VENV:-$root/models/otlp/venv}
stamp="$venv/.installed-opentelemetry-proto-$proto_version"

die() { echo "otlp-receiver: error: $*" >&2; exit 1; }
usage() { sed -n '5,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }

installed() { [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; }

fetch() { # make the venv; idempotent, safe to run concurrently
  mkdir -p "$(dirname "$venv")"
  exec 8>"$(dirname "$venv")/.otlp.lock"
  flock 8
  if installed; then
    echo "otlp-receiver: opentelemetry-proto $proto_version present in $venv" >&2
    exec 8>&-
    return 0
  fi
  "$python" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$python cannot make a venv (apt-get install python3-venv)"
  echo "otlp-receiver: installing opentelemetry-proto==$proto_version from PyPI into $venv ..." >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "opentelemetry-proto==$proto_version" >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    die "could not install opentelemetry-proto==$proto_version from PyPI; run 'scripts/otlp-receiver.sh fetch' where PyPI is reachable and copy '$venv/' here (or point RAGD_OTLP_VENV at such a venv)"
  fi
  "$venv/bin/python" -c 'from opentelemetry.proto.collector.trace.v1 import trace_service_pb2' \
    || die "opentelemetry-proto $proto_version installed, but its trace service module does not import"
  touch "$stamp"
  exec 8>&-
  echo "otlp-receiver: opentelemetry-proto $proto_version ready in $venv" >&2
}

case "${1:-}" in
  fetch) fetch ;;
  python) installed || fetch; echo "$venv/bin/python" ;;
  *) usage ;;
esac
