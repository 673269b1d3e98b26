#!/usr/bin/env bash
# Puts the Redoc standalone bundle (npm package `redoc`, MIT) under vendor/redoc/, for the offline
# /redoc page, and checks it against a pinned sha256. Idempotent. Usage: scripts/fetch-assets.sh [DIR]
set -euo pipefail

dir=${1:-vendor/redoc}
version=2.5.1
tgz_sha=01ba9840ed89ca7862268d8d21892bcaa54e0fce6a62941faf12021834cd2032
js_sha=2d8d13e94b5a21011cc6f8260d87ca475d0f6f2faed16dd12e7394dfa3bb05b8

if [ -f "$dir/redoc.standalone.js" ] && [ "$(sha256sum "$dir/redoc.standalone.js" | cut -d' ' -f1)" = "$js_sha" ]; then
  echo "redoc $version: present and verified ($dir)"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch the Redoc bundle (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent "redoc@$version" >/dev/null 2>"$tmp/npm.log"); then
  cat "$tmp/npm.log" >&2
  echo "cannot download redoc@$version from the npm registry; offline? /redoc will point to /docs until this runs" >&2
  exit 1
fi
echo "$tgz_sha  $tmp/redoc-$version.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/redoc-$version.tgz" -C "$tmp" package/bundles/redoc.standalone.js package/bundles/redoc.standalone.js.LICENSE.txt package/LICENSE
echo "$js_sha  $tmp/package/bundles/redoc.standalone.js" | sha256sum -c --quiet
mkdir -p "$dir"
cp "$tmp/package/bundles/redoc.standalone.js" "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" "$dir/"
cp "$tmp/package/LICENSE" "$dir/LICENSE"
echo "redoc $version: installed in $dir"
