#!/usr/bin/env bash
# The nginx config of deploy/nginx/, rendered for loopback and checked by the real nginx.
#
#   scripts/check-nginx.sh             render it into a temp dir (instances on free 127.0.0.1 ports,
#                                      a throwaway CA and certificate) and run `nginx -t` on it; then
#                                      the same with the shipped compose files of deploy/nginx/site/
#                                      (only their host-specific values swapped); exit 1 on failure
#   scripts/check-nginx.sh render DIR [--upstream HOST:PORT]... [--http PORT] [--https PORT]
#                                     [--unlimited CIDR]...
#                                      render into DIR for `nginx -p DIR/ -c DIR/nginx.conf`: DIR/ragd/
#                                      as the config expects it (ragd.conf and snippets/ linked from
#                                      deploy/nginx/, site/ written), listening on 127.0.0.1, its CA in
#                                      DIR/tls/ca.pem, logs, pid and temp files in DIR (the fleet tests
#                                      run nginx this way)
#
# No root needed: everything nginx writes is under DIR. NGINX overrides the binary
# (default /usr/sbin/nginx, else nginx on the PATH).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deploy=$root/deploy/nginx

say() { echo "check-nginx: $*" >&2; }
die() { echo "check-nginx: error: $*" >&2; exit 1; }
usage() { sed -n '4,15s/^# \{0,1\}//p' "$0" >&2; exit 2; }

nginx_binary() {
  if [ -n "${NGINX:-}" ]; then echo "$NGINX"; return; fi
  if [ -x /usr/sbin/nginx ]; then echo /usr/sbin/nginx; return; fi
  command -v nginx || die "nginx is not installed (apt-get install nginx)"
}

free_ports() { # COUNT: distinct ports, free a moment ago
  python3 -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))
' "$1"
}

# A CA and a server certificate it signed, for 127.0.0.1 and localhost, valid for two days. A
# CA rather than one self-signed leaf: clients (rustls) accept a trust anchor only as an issuer.
make_certificates() { # DIR
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=ragd test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  chmod 600 "$dir/ca.key" "$dir/server.key"
}

# DIR/nginx.conf: the main context around deploy/nginx/ragd.conf, every path inside DIR.
write_main() { # DIR
  local dir=$1 user=""
  # As root, the workers would run as `nobody`, who cannot write the temp dirs in here.
  if [ "$(id -u)" = 0 ]; then user="user root;"; fi
  mkdir -p "$dir/ragd/site" "$dir/tmp"
  ln -sfn "$deploy/ragd.conf" "$dir/ragd/ragd.conf"
  ln -sfn "$deploy/snippets" "$dir/ragd/snippets"
  cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 1024; }
http {
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include ragd/ragd.conf;
}
EOF
}

render() { # DIR [options]
  [ $# -ge 1 ] || usage
  local dir=$1
  shift
  local upstreams=() unlimited=() http="" https=""
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
      --upstream) upstreams+=("$2") ;;
      --unlimited) unlimited+=("$2") ;;
      --http) http=$2 ;;
      --https) https=$2 ;;
      *) usage ;;
    esac
    shift 2
  done
  [ ${#upstreams[@]} -gt 0 ] || die "render: at least one --upstream"
  if [ -z "$http" ] || [ -z "$https" ]; then die "render: --http PORT and --https PORT"; fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  write_main "$dir"
  make_certificates "$dir/tls"
  local site=$dir/ragd/site upstream network
  : >"$site/upstream.conf"
  for upstream in "${upstreams[@]}"; do
    echo "server $upstream max_fails=2 fail_timeout=5s;" >>"$site/upstream.conf"
  done
  : >"$site/unlimited-clients.conf"
  for network in "${unlimited[@]}"; do
    echo "$network 1;" >>"$site/unlimited-clients.conf"
  done
  cat >"$site/http-server.conf" <<EOF
listen 127.0.0.1:$http;
set \$ragd_https_port ":$https";
access_log $dir/access.log ragd;
EOF
  cat >"$site/https-server.conf" <<EOF
listen 127.0.0.1:$https ssl;
ssl_certificate $dir/tls/server.pem;
ssl_certificate_key $dir/tls/server.key;
access_log $dir/access.log ragd;
EOF
}

# deploy/nginx/site/ as shipped (for compose), with only what cannot work here swapped: the
# service name, the privileged ports, the certificate and log paths.
render_shipped() { # DIR HTTP_PORT HTTPS_PORT UPSTREAM_PORT
  local dir=$1 http=$2 https=$3 upstream=$4 file
  render "$dir" --upstream "127.0.0.1:$upstream" --http "$http" --https "$https"
  for file in "$deploy"/site/*.conf; do
    sed -e "s|ragd:8000|127.0.0.1:$upstream|" \
      -e "s|^listen 80;|listen 127.0.0.1:$http;|" \
      -e "s|^listen 443 ssl;|listen 127.0.0.1:$https ssl;|" \
      -e "s|/etc/nginx/certs/fullchain.pem|$dir/tls/server.pem|" \
      -e "s|/etc/nginx/certs/privkey.pem|$dir/tls/server.key|" \
      -e "s|/var/log/nginx/access.log|$dir/access.log|" \
      "$file" >"$dir/ragd/site/$(basename "$file")"
  done
  # A swap that no longer matches would test something else than the shipped file.
  if grep -rn -e 'ragd:8000' -e '/etc/nginx/' -e '/var/log/' -e '^listen 80;' -e '^listen 443 ' \
    "$dir/ragd/site"; then
    die "deploy/nginx/site/ changed: update render_shipped in $0"
  fi
}

nginx_test() { # DIR WHAT
  local dir=$1 what=$2 out
  if out=$("$(nginx_binary)" -t -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" 2>&1); then
    say "ok: $what"
  else
    echo "$out" >&2
    die "nginx -t failed: $what"
  fi
}

check() {
  if grep -rlq -e 'PRIVATE KEY' "$deploy"; then
    die "a private key under deploy/nginx/: never commit keys"
  fi
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-nginx.XXXXXX")
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  local ports
  read -r -a ports <<<"$(free_ports 5)"
  render "$tmp/loopback" --upstream "127.0.0.1:${ports[0]}" --upstream "127.0.0.1:${ports[1]}" \
    --http "${ports[2]}" --https "${ports[3]}" --unlimited 127.0.0.1/32
  nginx_test "$tmp/loopback" "deploy/nginx with loopback site files"
  render_shipped "$tmp/shipped" "${ports[2]}" "${ports[3]}" "${ports[4]}"
  nginx_test "$tmp/shipped" "deploy/nginx with the shipped site files (host values swapped)"
}

case ${1:-} in
  "") check ;;
  render) shift; render "$@" ;;
  *) usage ;;
esac
