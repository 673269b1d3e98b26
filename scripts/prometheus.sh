#!/usr/bin/env bash
# Prometheus and promtool for the observability tests and for trying deploy/prometheus locally:
# Debian's `prometheus` package (both binaries are in it), downloaded with apt-get (the archive's
# signed index checks it) and unpacked into models/prometheus/ — no system service is installed
# or started. Binaries already on PATH are used as they are.
#
#   scripts/prometheus.sh fetch          download and unpack when missing (idempotent)
#   scripts/prometheus.sh path [TOOL]    print the path of prometheus (or TOOL: promtool), exit 1
#                                        when missing
#
# RAGD_PROMETHEUS_INSTALL overrides the install directory (default: models/prometheus).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=${RAGD_PROMETHEUS_INSTALL:-$root/models/prometheus}

say() { echo "prometheus: $*" >&2; }
die() { echo "prometheus: error: $*" >&2; exit 1; }
usage() { sed -n '7,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }

locate() { # TOOL: print its path when present
  local tool=$1
  if [ -x "$install/usr/bin/$tool" ]; then
    echo "$install/usr/bin/$tool"
  elif command -v "$tool" >/dev/null; then
    command -v "$tool"
  else
    return 1
  fi
}

fetch() {
  if locate prometheus >/dev/null && locate promtool >/dev/null; then
    say "$("$(locate prometheus)" --version 2>&1 | head -1) present"
    return 0
  fi
  command -v apt-get >/dev/null || die "apt-get is missing: install Prometheus 2.x and put prometheus and promtool on PATH"
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/ragd-prometheus.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  say "downloading Debian's prometheus package ..."
  if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
    [ "$(id -u)" = 0 ] || die "apt-get download prometheus failed; as root, run apt-get update first"
    apt-get update -qq >/dev/null
    (cd "$tmp" && apt-get download -qq prometheus >/dev/null) || die "apt-get download prometheus failed"
  fi
  rm -rf "$install.partial"
  mkdir -p "$install.partial"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$install.partial"
  if [ ! -x "$install.partial/usr/bin/prometheus" ] || [ ! -x "$install.partial/usr/bin/promtool" ]; then
    die "the package has no usr/bin/prometheus and usr/bin/promtool"
  fi
  rm -rf "$install"
  mv "$install.partial" "$install"
  say "$("$install/usr/bin/prometheus" --version 2>&1 | head -1) installed in $install"
}

[ $# -ge 1 ] || usage
case $1 in
  fetch) fetch ;;
  path)
    [ $# -le 2 ] || usage
    locate "${2:-prometheus}"
    ;;
  *) usage ;;
esac
