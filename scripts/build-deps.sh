#!/usr/bin/env bash
# What building llama.cpp (the local answer model, crate llama-cpp-sys-2) needs beyond Rust and
# gcc: cmake, and libclang for its generated bindings. Installed from Debian's packages when
# missing (as root), else the user is told what to install. Idempotent.
set -euo pipefail

have_cmake() { command -v cmake >/dev/null 2>&1 || [ -n "${CMAKE:-}" ]; }
have_libclang() {
  [ -n "${LIBCLANG_PATH:-}" ] || ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so'
}

if have_cmake && have_libclang; then
  echo "build deps: $(${CMAKE:-cmake} --version | head -1), libclang present"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "build deps: installing cmake and libclang-dev from Debian ..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake libclang-dev >/dev/null
  echo "build deps: $(cmake --version | head -1), libclang present"
  exit 0
fi
cat >&2 <<MSG
error: building ragd's local answer model (llama.cpp) needs cmake and libclang:
  Debian/Ubuntu: sudo apt-get install cmake libclang-dev
  or build without it: cargo build --no-default-features (answers through an
  OpenAI-compatible server or extractively)
MSG
exit 1
