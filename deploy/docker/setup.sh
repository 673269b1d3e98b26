#!/usr/bin/env bash
# First start of the embedded single node (compose profile "embedded"): writes $RAGD_DATA_DIR/.env
# with a random JWT secret and admin password unless the environment gives them (ragd serve reads
# that file from its working directory, the data dir; real environment variables win), ingests
# the sample corpus (unchanged files are skipped, so it is safe on every start), and prints how to
# log in. Runs as a one-shot container before `ragd serve`, which holds the data dir's lock.
set -euo pipefail

data=${RAGD_DATA_DIR:-/data}
sample=${RAGD_SAMPLE_DIR:-/usr/share/ragd/sample}
port=${RAGD_PUBLISHED_PORT:-8000}
env_file=$data/.env

random() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

if [ ! -s "$env_file" ]; then
  umask 077
  {
    echo "# Written by ragd-setup on first start; keep it private."
    [ -n "${JWT_SECRET_KEY:-}" ] || echo "JWT_SECRET_KEY=$(random 32)"
    [ -n "${RAGD_ADMIN_PASSWORD:-}" ] || {
      echo "RAGD_ADMIN_USERNAME=${RAGD_ADMIN_USERNAME:-admin}"
      echo "RAGD_ADMIN_PASSWORD=$(random 12)"
    }
  } >"$env_file"
  echo "ragd-setup: wrote $env_file (JWT secret and admin password)"
fi

if [ -d "$sample" ]; then
  ragd ingest --quiet "$sample"
  echo "ragd-setup: sample corpus ingested from $sample"
fi

user=${RAGD_ADMIN_USERNAME:-$(sed -n 's/^RAGD_ADMIN_USERNAME=//p' "$env_file")}
pass=${RAGD_ADMIN_PASSWORD:-$(sed -n 's/^RAGD_ADMIN_PASSWORD=//p' "$env_file")}
cat <<MSG

  ragd is starting on http://localhost:$port  (API docs: /docs)
  Log in:  curl -s -X POST http://localhost:$port/auth/login -d username=${user:-admin} -d password='${pass:-<your RAGD_ADMIN_PASSWORD>}'
  Ask:     curl -s -X POST http://localhost:$port/query -H "Authorization: Bearer \$TOKEN" \\
             -H 'Content-Type: application/json' -d '{"query": "How long should a sourdough starter ferment?"}'

MSG
