#!/usr/bin/env bash
# Runs a command inside a private network + mount namespace with fresh /run,
# /etc/netns and /sys, like the test sandbox: benchmarks never touch the
# host's network.   bash bench/sandbox.sh CMD [ARGS...]
set -euo pipefail
if [ "${NETPLUMB_BENCH_SANDBOX:-}" != 1 ]; then
  mkdir -p /etc/netns
  exec unshare --net --mount --propagation private env NETPLUMB_BENCH_SANDBOX=1 bash "$0" "$@"
fi
mount -t tmpfs -o mode=0755 netplumb-bench-run /run
mkdir -p /run/netns
mount --bind /run/netns /run/netns
mount --make-shared /run/netns
mount -t tmpfs -o mode=0755 netplumb-bench-etc /etc/netns
mount -t sysfs netplumb-bench-sys /sys
[ "$(ls /sys/class/net)" = lo ] || { echo "bench sandbox: not a fresh namespace" >&2; exit 99; }
ip link set lo up
exec "$@"
