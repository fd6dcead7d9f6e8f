#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/targets/*.cc) with ASan + UBSan into
# fuzz/build/. Needs clang and its libFuzzer runtime (Debian: clang,
# libclang-rt-14-dev; scripts/install-deps.sh installs them). Exits 2 when
# the toolchain is missing, so callers can skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cxx=${CXX_FUZZ:-}
if [ -z "$cxx" ]; then
  for c in clang++ clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null; then
      cxx=$c
      break
    fi
  done
fi
if [ -z "$cxx" ]; then
  echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
# -fsanitize=fuzzer needs compiler-rt's libFuzzer.
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
  "$cxx" -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null 2>/dev/null; then
  echo "fuzz: $cxx cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev, matching clang's version)" >&2
  exit 2
fi
make -s -C "$here" -j"$(nproc)" CXX="$cxx" "$@"
