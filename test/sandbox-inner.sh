#!/usr/bin/env bash
# Inside the private namespaces (see test/run.sh): fresh /run, /etc/netns and
# /sys, loopback up, then mocha.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${NETPLUMB_HOST_NETNS:-}" ] || [ "$(readlink /proc/self/ns/net)" = "$NETPLUMB_HOST_NETNS" ]; then
  echo "sandbox: refusing to run: not in a private network namespace (use test/run.sh)" >&2
  exit 99
fi
mount -t tmpfs -o mode=0755 netplumb-test-run /run
mkdir -p /run/netns /run/lock
mount --bind /run/netns /run/netns
mount --make-shared /run/netns
mount -t tmpfs -o mode=0755 netplumb-test-etc-netns /etc/netns
mount -t sysfs netplumb-test-sys /sys
if [ "$(ls /sys/class/net)" != "lo" ]; then
  echo "sandbox: refusing to run: not in a fresh network namespace" >&2
  exit 99
fi
ip link set lo up
export NETPLUMB_TEST_SANDBOX=1
cd "$root"
exec node_modules/.bin/mocha --config test/mocharc.json "$@"
