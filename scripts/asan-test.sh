#!/usr/bin/env bash
# Runs the test suite against an AddressSanitizer + LeakSanitizer + UBSan
# build of the addon. The build happens in a copy of the tree (default
# /tmp/netplumb-asan), so build/Release here stays the normal one. Node
# itself is not instrumented: the ASan runtime is preloaded into it (and
# into every process the tests start). Any sanitizer report from any
# process fails the run; reports are left in <copy>/sanitizer/.
#   bash scripts/asan-test.sh              the whole suite (test/run.sh)
#   bash scripts/asan-test.sh [mocha args] e.g. --config test/mocharc.unit.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${NETPLUMB_ASAN_DIR:-/tmp/netplumb-asan}
asan=$(g++ -print-file-name=libasan.so)
if [ ! -e "$asan" ] || [ "$asan" = libasan.so ]; then
  echo "asan-test: g++ has no libasan (apt-get install g++; Debian's libasan8 comes with it)" >&2
  exit 1
fi

mkdir -p "$work"
# The sources, not the builds: this tree's node_modules is shared by a link.
tar -C "$root" --exclude=./node_modules --exclude=./build --exclude=./dist \
  --exclude=./prebuilds --exclude=./fuzz/build --exclude=./.git -cf - . | tar -C "$work" -xf -
ln -sfn "$root/node_modules" "$work/node_modules"
rm -rf "$work/prebuilds" # only the sanitized build may load

cd "$work"
export npm_config_nodedir=${npm_config_nodedir:-/usr}
# gyp's Makefile appends CXXFLAGS/LDFLAGS from the environment to its own.
export CXXFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
export CFLAGS="$CXXFLAGS"
export LDFLAGS="-fsanitize=address,undefined"
node scripts/build-native.mjs
npm run --silent build:ts
if ! ldd build/Release/netplumb.node | grep -q libasan; then
  echo "asan-test: build/Release/netplumb.node is not instrumented" >&2
  exit 1
fi
unset CXXFLAGS CFLAGS LDFLAGS

reports="$work/sanitizer"
rm -rf "$reports"
mkdir -p "$reports"
# Node's own allocations that live until exit are not ours: see the file.
export LD_PRELOAD="$asan"
# malloc_context_size: allocation stacks keep their 4 innermost frames, so a
# suppression of V8's own allocations (lsan.supp) cannot match the JS->addon
# frames further out. LSan's exit code stays 0: a child process the tests
# run must not fail for a report; the report files decide (below).
export ASAN_OPTIONS="suppressions=$root/scripts/asan.supp:detect_leaks=1:malloc_context_size=4:log_path=$reports/asan:log_exe_name=1:allocator_may_return_null=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0:exitcode=0"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan:log_exe_name=1"
# Canary: an addon that leaks 77 bytes when loaded must be reported through
# these options and suppressions, or a clean run would prove nothing.
cat >"$work/canary.c" <<'C'
#include <node_api.h>
#include <stdlib.h>
static void* volatile kept;
static napi_value Init(napi_env env, napi_value exports) {
  (void)env;
  kept = malloc(77);
  kept = NULL;
  return exports;
}
NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
C
gcc -shared -fPIC -fsanitize=address -I"$npm_config_nodedir/include/node" "$work/canary.c" -o "$work/canary.node"
node -e "require('$work/canary.node')"
if ! grep -qs 'Direct leak of 77 byte' "$reports"/asan.node.*; then
  echo "asan-test: the canary's leak was not reported: the set-up hides leaks" >&2
  exit 1
fi
rm -f "$reports"/*
echo "asan-test: canary leak reported as it must be; running the suite"

set +e
bash test/run.sh "$@"
rc=$?
set -e
unset LD_PRELOAD

# The addon runs in node processes: their reports are the verdict. Other
# programs' (the oracles') are listed, not counted.
others=$(find "$reports" -type f ! -name '*.node.*' | wc -l)
if [ "$others" -gt 0 ]; then
  echo "asan-test: $others report(s) from other programs, not counted (the addon is not in them):" \
    "$(find "$reports" -type f ! -name '*.node.*' -printf '%f\n' | cut -d. -f2 | sort | uniq -c | tr -s ' \n' ' ')"
fi
found=$(find "$reports" -type f -name '*.node.*' | wc -l)
if [ "$found" -gt 0 ]; then
  echo "asan-test: $found sanitizer report(s) from node processes in $reports:" >&2
  for f in "$reports"/*.node.*; do
    echo "--- $f" >&2
    head -60 "$f" >&2
  done
  exit 1
fi
echo "asan-test: 0 sanitizer reports (ASan, LSan, UBSan) from the node processes of the run"
exit $rc
