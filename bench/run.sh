#!/usr/bin/env bash
# npm run bench: netplumb and the peers of ../shared/bench/peers, measured in
# one invocation on this machine, printed side by side with ratios, and
# written to bench/results/latest.{json,md}.
#
#   BENCH_N="1 10 100 1000" sandbox counts (default)
#   BENCH_LARGE_PEERS="..." peers run at N >= 1000 (default: the fast ones;
#                           CNI and netavark would take an hour there)
#   BENCH_REPS=3            repetitions (the table shows medians)
#   BENCH_PEERS="..."       peers to run (default: all that can run here)
#   BENCH_QUICK=1           N=10, 1 rep, fast peers only: a smoke run
#   BENCH_TARGET_N=200      also the N issue 7 states its targets at: the
#                           engine, the C floor (also with the engine's file
#                           operations: "c-floor-files") and the port
#                           variant of BENCH_TARGET_PEERS; empty: skipped
#   BENCH_WARMUP=2000       sandboxes a process makes and removes before the
#                           "-warm" rows at the targets' N
#
# Also: overlay convergence for 3 and 20 simulated hosts (bench/overlay.ts).
#
# Everything runs inside private network namespaces (bench/sandbox.sh; the
# peers use their own sandbox.sh). Needs root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "npm run bench needs root (it creates namespaces)" >&2; exit 1; }
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

if [ "${BENCH_QUICK:-}" = 1 ]; then
  N_LIST=${BENCH_N:-10}
  REPS=${BENCH_REPS:-1}
  PEERS=${BENCH_PEERS:-"ip-batch go-netlink go-netlink-nsdel"}
else
  N_LIST=${BENCH_N:-"1 10 100 1000"}
  REPS=${BENCH_REPS:-3}
  PEERS=${BENCH_PEERS:-"ip-batch ip-batch-all pyroute2-setns go-netlink go-netlink-nsdel cni netavark"}
fi
LARGE_PEERS=${BENCH_LARGE_PEERS:-"ip-batch go-netlink go-netlink-nsdel"}
if [ "${BENCH_QUICK:-}" = 1 ]; then TARGET_N=${BENCH_TARGET_N:-}; else TARGET_N=${BENCH_TARGET_N-200}; fi
TARGET_PEERS=${BENCH_TARGET_PEERS:-"go-netlink netavark cni"}
WARMUP=${BENCH_WARMUP:-2000}

bash scripts/install-bench-deps.sh || echo "bench: some peers' packages could not be installed; those peers are skipped"

work=$(mktemp -d /tmp/netplumb-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
raw="$work/raw.jsonl"
: >"$raw"

# The peers' directory is read-only where it is shared: run a copy.
peers_src="${NETPLUMB_PEERS:-$root/../shared/bench/peers}"
peers=""
if [ -d "$peers_src" ]; then
  cp -r "$peers_src" "$work/peers"
  chmod -R u+w "$work/peers"
  if command -v go >/dev/null; then bash "$work/peers/go/build.sh" >/dev/null 2>&1 || echo "bench: the Go peer did not build"; fi
  peers="$work/peers"
else
  echo "bench: $peers_src not found: netplumb alone"
fi

# The C floor: the same kernel calls as the engine, with nothing in between.
cc -O2 -pthread -o "$work/floor" bench/floor/floor.c
# What a thread handoff costs here (micro benchmark "handoff").
cc -O2 -pthread -o "$work/handoff" bench/floor/handoff.c
export NETPLUMB_BENCH_HANDOFF="$work/handoff"

for n in $N_LIST; do
  echo "== N=$n"
  bash bench/sandbox.sh node dist/bench/engine.js "$n" "$REPS" >>"$raw"
  bash bench/sandbox.sh node dist/bench/engine.js "$n" "$REPS" --concurrency 8 >>"$raw"
  bash bench/sandbox.sh node dist/bench/plumbing.js "$n" "$REPS" >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" --concurrency 8 >>"$raw"
  if [ -n "$peers" ]; then
    peers_here=$PEERS
    [ "$n" -ge 1000 ] && peers_here=$LARGE_PEERS
    for p in $peers_here; do
      for variant in "" "--port"; do
        # A peer that cannot run here (missing package) is reported, not fatal.
        "$peers/run.sh" "$p" "$n" --reps "$REPS" $variant --out "$raw" >"$work/peer.log" 2>&1 ||
          echo "bench: peer $p $variant N=$n failed: $(tail -1 "$work/peer.log")"
      done
    done
  fi
done

# The targets' own setting: one published port, N = 200, sequential and 8 in flight.
if [ -n "$TARGET_N" ]; then
  n=$TARGET_N
  echo "== N=$n (the targets' N)"
  bash bench/sandbox.sh node dist/bench/engine.js "$n" "$REPS" >>"$raw"
  bash bench/sandbox.sh node dist/bench/engine.js "$n" "$REPS" --concurrency 8 >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" --concurrency 8 >>"$raw"
  # The floor making the engine's file operations too (state, /etc/netns):
  # what keeping state on disk costs the kernel, apart from the plumbing.
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" --files >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" --files --concurrency 8 >>"$raw"
  # In a process that has made sandboxes before (the JIT warm, see
  # engine.ts); the floor the same way, to show the kernel's share (none).
  bash bench/sandbox.sh node dist/bench/engine.js "$n" "$REPS" --warmup "$WARMUP" >>"$raw"
  bash bench/sandbox.sh node dist/bench/engine.js "$n" "$REPS" --concurrency 8 --warmup "$WARMUP" >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" --warmup "$WARMUP" >>"$raw"
  bash bench/sandbox.sh node dist/bench/floor.js "$work/floor" "$n" "$REPS" --files --warmup "$WARMUP" >>"$raw"
  if [ -n "$peers" ]; then
    for p in $TARGET_PEERS; do
      "$peers/run.sh" "$p" "$n" --reps "$REPS" --port --out "$raw" >"$work/peer.log" 2>&1 ||
        echo "bench: peer $p --port N=$n failed: $(tail -1 "$work/peer.log")"
    done
  fi
fi

echo "== micro benchmarks"
bash bench/sandbox.sh node --expose-gc dist/bench/micro.js >>"$raw" || echo "bench: micro benchmarks failed"

# Multi-host: N simulated hosts and a real etcd (scripts/install-deps.sh installs etcd-server).
echo "== overlay convergence"
if [ -x /usr/bin/etcd ]; then
  for n in 3 20; do
    bash bench/sandbox.sh node dist/bench/overlay.js "$n" "$REPS" >>"$raw" || echo "bench: overlay N=$n failed"
  done
else
  echo "bench: /usr/bin/etcd missing (apt-get install etcd-server): overlay convergence skipped"
fi

mkdir -p bench/results
node dist/bench/report.js "$raw" bench/results/latest
