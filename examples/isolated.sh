#!/usr/bin/env bash
# Runs a command in a throwaway network and mount namespace, with private
# /run, /etc/netns and /sys: what the examples build (bridges, namespaces,
# nftables rules) is invisible to the host and vanishes when the command ends.
#   sudo bash examples/isolated.sh node dist/examples/ports.js
set -euo pipefail
if [ "${1:-}" != --inside ]; then
  # /etc/netns must exist to be mounted over; an empty directory is all this leaves.
  mkdir -p /etc/netns
  exec unshare --net --mount --propagation private -- bash "$0" --inside "$@"
fi
shift
mount -t tmpfs -o mode=0755 netplumb-example-run /run
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 netplumb-example-etc /etc/netns
mount -t sysfs netplumb-example-sys /sys
ip link set lo up
exec "$@"
