#!/usr/bin/env bash
# Runs the whole mocha suite (unit + integration) inside a private network
# and mount namespace made for this run: the host's interfaces, routes,
# nftables and /run/netns are never seen or touched, and everything the
# tests create vanishes with the namespace when the run ends.
#   bash test/run.sh [mocha args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "test/run.sh: integration tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run: sudo npm test" >&2
  exit 1
fi
for tool in ip nft unshare; do
  if ! command -v "$tool" >/dev/null; then
    echo "test/run.sh: '$tool' is missing: apt-get install iproute2 nftables util-linux" >&2
    exit 1
  fi
done
# /etc/netns must exist as a mount point for the private tmpfs below; an
# empty directory is all this leaves on the host (as `ip netns` would).
mkdir -p /etc/netns
export NETPLUMB_HOST_NETNS
NETPLUMB_HOST_NETNS=$(readlink /proc/self/ns/net)
exec unshare --net --mount --propagation private -- bash "$root/test/sandbox-inner.sh" "$@"
