#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time over its corpus in
# fuzz/corpus/<target>/ (new inputs go to fuzz/build/corpus/, not the repo)
# and reports executions. A crash fails the run; the input is left in
# fuzz/build/crashes/<target>/ and the sanitizer report is printed.
#   bash fuzz/run.sh [SECONDS]   total budget, split between targets (default 60)
#   bash fuzz/run.sh --merge     minimize the committed corpus (keeps what adds coverage)
# Fails, naming the Debian packages, when clang with libFuzzer is missing
# (scripts/install-deps.sh installs them): a fuzz run that did not run is
# not reported as passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
targets=(rtnl_decode nft_decode replies)

set +e
bash "$here/build.sh"
rc=$?
set -e
if [ $rc -eq 2 ]; then
  echo "fuzz: not run: the toolchain is missing (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
elif [ $rc -ne 0 ]; then
  exit $rc
fi

if [ "${1:-}" = "--merge" ]; then
  for t in "${targets[@]}"; do
    fresh="$here/build/merge/$t"
    rm -rf "$fresh"
    mkdir -p "$fresh" "$here/build/corpus/$t"
    "$here/build/$t" -merge=1 "$fresh" "$here/corpus/$t" "$here/build/corpus/$t" >"$here/build/merge-$t.log" 2>&1 || {
      echo "fuzz: merging $t failed (see fuzz/build/merge-$t.log)" >&2
      exit 1
    }
    if [ -z "$(ls -A "$fresh")" ]; then
      echo "fuzz: merging $t kept nothing; the corpus stays as it was" >&2
      exit 1
    fi
    rm -rf "${here:?}/corpus/$t"
    mv "$fresh" "$here/corpus/$t"
    echo "$t: $(ls "$here/corpus/$t" | wc -l) inputs, $(du -sk --apparent-size "$here/corpus/$t" | cut -f1) KiB"
  done
  exit 0
fi

total=${1:-60}
each=$((total / ${#targets[@]}))
[ "$each" -ge 1 ] || each=1
failed=0
for t in "${targets[@]}"; do
  work="$here/build/corpus/$t"
  crashes="$here/build/crashes/$t"
  mkdir -p "$work" "$crashes"
  log="$here/build/$t.log"
  # One process (-jobs is not used: the machine is shared); inputs up to 64 KiB,
  # the size of one receive buffer.
  set +e
  "$here/build/$t" -max_total_time="$each" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz: $t FAILED after ${execs:-?} executions; report:"
    grep -A40 -m1 -E '^==[0-9]+==ERROR|runtime error|deadly signal' "$log" || tail -40 "$log"
    ls "$crashes"
  else
    echo "fuzz: $t ok: ${execs:-?} executions in ${each}s, ${cov:-?} coverage points, 0 crashes"
  fi
done
exit $failed
