#!/usr/bin/env bash
# Writes the scale-out stack's secrets under deploy/compose/secrets/ (git-ignored), each random:
# the JWT secret, the bootstrap admin's password, PostgreSQL's password (and the DATABASE_URL
# that uses it), Grafana's admin password, and a self-signed TLS certificate for nginx (replace
# tls/fullchain.pem and tls/privkey.pem with real ones for a public host). Existing files are kept, so it
# never rotates a secret by accident; --force rewrites all of them. Prints the admin login.
# Usage: deploy/compose/init-secrets.sh [--force] [HOSTNAME]
set -euo pipefail

cd "$(dirname "$0")"
force=
if [ "${1:-}" = --force ]; then force=1; shift; fi
host=${1:-localhost}
dir=secrets
umask 077
mkdir -p "$dir/tls"

random() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
fresh() { [ -n "$force" ] || [ ! -s "$1" ]; }

if fresh "$dir/postgres_password" || fresh "$dir/ragd.env"; then
  pg_password=$(random 24)
  printf '%s\n' "$pg_password" >"$dir/postgres_password"
  cat >"$dir/ragd.env" <<ENV
# ragd's secrets for the compose scale-out stack (RAGD_ENV_FILE); keep private.
JWT_SECRET_KEY=$(random 32)
DATABASE_URL=postgres://ragd:$pg_password@postgres:5432/ragd
RAGD_ADMIN_USERNAME=admin
RAGD_ADMIN_PASSWORD=$(random 12)
# OPENAI_API_KEY=...
ENV
  echo "init-secrets: wrote $dir/ragd.env and $dir/postgres_password"
fi
if fresh "$dir/grafana_admin_password"; then
  random 12 >"$dir/grafana_admin_password"
  echo "init-secrets: wrote $dir/grafana_admin_password"
fi
if fresh "$dir/tls/fullchain.pem" || fresh "$dir/tls/privkey.pem"; then
  openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/tls/privkey.pem" -out "$dir/tls/fullchain.pem" 2>/dev/null
  echo "init-secrets: wrote a self-signed certificate for $host in $dir/tls/"
fi
# The directory keeps them private on this host (0700); the files themselves must be readable
# by the containers' own users (postgres, ragd's 10001, grafana), to whom compose bind-mounts them.
chmod 0700 "$dir" "$dir/tls"
chmod 0644 "$dir/ragd.env" "$dir/postgres_password" "$dir/grafana_admin_password" "$dir/tls/fullchain.pem"
password=$(sed -n 's/^RAGD_ADMIN_PASSWORD=//p' "$dir/ragd.env")
echo "init-secrets: log in as admin / $password (https://$host)"
