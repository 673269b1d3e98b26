#!/usr/bin/env bash
# The dependency tree against deny.toml (part of `make test`): licences, bans and sources with
# cargo-deny, offline. (Advisories need the RustSec database from GitHub, which this machine
# cannot reach; .github/workflows/ci.yml and audit.yml check them where it can.) cargo-deny is
# built once per machine from crates.io (~3.5 min on 2 cores) into $CARGO_HOME/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
bin=${CARGO_HOME:-$HOME/.cargo}/bin/cargo-deny
if [ ! -x "$bin" ] || [ "$("$bin" --version | cut -d' ' -f2)" != "$version" ]; then
  echo "check-deny: building cargo-deny $version from crates.io (once per machine) ..."
  build=$(mktemp -d /var/tmp/cargo-deny-build.XXXXXX)
  trap 'rm -rf "$build"' EXIT
  cargo install --quiet --locked --version "$version" --target-dir "$build" cargo-deny
fi
"$bin" --log-level error check licenses bans sources
echo "check-deny: licences, bans and sources pass deny.toml"
