#!/usr/bin/env bash
# `npm install`'s step for the native QUIC addon (package.json postinstall; docs/native-quic.md):
# builds it with build.sh when the tools are here, and otherwise prints one line naming what is
# missing and the command that fixes it. It never fails the install: `npm test` and the
# development default run without the addon (Node and npm only), and a config file that needs
# it refuses to start with the same command in its message.
#
#   ODIN_SKIP_NATIVE_BUILD=1   skip (the Dockerfile builds the addon in its own stage); package.json
#                              checks it before calling this script, which the image's install
#                              stage does not have
#   ODIN_REQUIRE_NATIVE=1      a missing tool or a failed build fails the install (.ci/run)
# The target dir (native/quic/target, or $CARGO_TARGET_DIR) is kept, so a warm install only
# asks cargo whether anything changed (seconds); a cold one compiles BoringSSL and quiche
# (10-20 minutes on two cores).
set -uo pipefail
cd "$(dirname "$0")"
fix='bash native/quic/setup.sh && npm run build:native'
required=0
[[ -n "${ODIN_REQUIRE_NATIVE:-}" ]] && required=1

# The same things build.sh and boring-sys need: cargo (Rust >= 1.85), cmake and a C/C++
# compiler for BoringSSL, and libclang for bindgen (found the ways clang-sys looks for it).
libclang_found() {
  [[ -n "${LIBCLANG_PATH:-}" ]] && return 0
  command -v llvm-config >/dev/null && return 0
  ldconfig -p 2>/dev/null | grep -q 'libclang[-.]' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && return 0
  compgen -G '/usr/lib*/libclang*.so*' >/dev/null && return 0
  compgen -G '/Library/Developer/CommandLineTools/usr/lib/libclang.dylib' >/dev/null && return 0
  return 1
}
missing=()
command -v cargo >/dev/null || missing+=("cargo (Rust: https://rustup.rs)")
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=("a C++ compiler")
libclang_found || missing+=(libclang)
if ((${#missing[@]} > 0)); then
  list=$(printf ', %s' "${missing[@]}")
  echo "odin-grid: native QUIC addon not built, missing ${list:2}; a config with [quic] needs it: run \`$fix\` (docs/native-quic.md)" >&2
  exit "$required"
fi

echo "odin-grid: building the native QUIC addon (docs/native-quic.md; cold 6-20 min on two cores, then seconds; ODIN_SKIP_NATIVE_BUILD=1 skips)"
started=$SECONDS
if bash build.sh; then
  echo "odin-grid: native QUIC addon ready ($((SECONDS - started)) s)"
else
  goes_on=', npm install goes on without it'
  ((required)) && goes_on=' (ODIN_REQUIRE_NATIVE: the install fails)'
  echo "odin-grid: the native QUIC addon did not build (the errors above)$goes_on: fix them and run \`npm run build:native\` (docs/native-quic.md)" >&2
  exit "$required"
fi
