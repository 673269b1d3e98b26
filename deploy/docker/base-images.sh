#!/usr/bin/env bash
# Builds the base images deploy/docker/Dockerfile starts from, under the names it expects, on a
# machine that reaches the Debian archive but no image registry (like ours):
#   debian:bookworm-slim        debootstrap --variant=minbase bookworm, imported with `docker import`
#   rust:1.95.0-slim-bookworm   that, plus gcc/libc6-dev and this machine's Rust 1.95.0 toolchain
# Where a registry is reachable, skip this: `docker build` pulls the public images of those names.
# The local images trust what this machine trusts (its CA bundle is copied in), so builds behind a
# TLS-inspecting proxy reach the registries. Idempotent: existing tags are kept unless --force.
# Usage: deploy/docker/base-images.sh [--force]
set -euo pipefail

docker=${DOCKER:-docker}
debian=debian:bookworm-slim
rust=rust:1.95.0-slim-bookworm
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=${1:-}

have() { [ "$force" != --force ] && "$docker" image inspect "$1" >/dev/null 2>&1; }

work=$(mktemp -d /var/tmp/ragd-base.XXXXXX)
cleanup() { rm -rf "$work"; "$docker" rm -f ragd-base-rust >/dev/null 2>&1 || true; }
trap cleanup EXIT

if have "$debian"; then
  echo "base images: $debian present"
else
  command -v debootstrap >/dev/null || { echo "debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 1; }
  echo "base images: debootstrap $suite from $mirror ..."
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  # What the public slim image leaves out too: caches, package lists, documentation.
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
    "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/locale/*
  tar -C "$work/rootfs" -c . | "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$debian" >/dev/null
  echo "base images: $debian imported ($("$docker" image inspect -f '{{.Size}}' "$debian" | numfmt --to=iec))"
fi

if have "$rust"; then
  echo "base images: $rust present"
else
  rustc=$(rustup which rustc --toolchain 1.95.0 2>/dev/null || command -v rustc)
  toolchain=$(dirname "$(dirname "$(readlink -f "$rustc")")")
  "$toolchain/bin/rustc" --version | grep -q '^rustc 1\.95\.0 ' \
    || { echo "Rust 1.95.0 is needed here to build $rust (found $toolchain)" >&2; exit 1; }
  echo "base images: $rust from $toolchain ..."
  "$docker" run --name ragd-base-rust "$debian" sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null && rm -rf /var/lib/apt/lists/* && mkdir -p /usr/local/cargo /usr/local/rustup'
  # The compiler and the standard library only (no documentation).
  tar -C "$toolchain" -c bin lib libexec etc 2>/dev/null \
    | "$docker" cp - ragd-base-rust:/usr/local/rustup
  "$docker" commit \
    --change 'ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/rustup/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    ragd-base-rust "$rust" >/dev/null
  echo "base images: $rust built ($("$docker" image inspect -f '{{.Size}}' "$rust" | numfmt --to=iec))"
fi
