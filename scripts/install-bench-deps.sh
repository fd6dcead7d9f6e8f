#!/usr/bin/env bash
# Debian packages the benchmark peers need (../shared/bench/peers/README.md):
# Go with vishvananda/netlink and google/nftables, pyroute2, the CNI plugins,
# netavark. Installed when missing and running as root.
set -euo pipefail
packages=(nftables iptables iproute2 iputils-ping hyperfine gcc golang-go
  golang-github-vishvananda-netlink-dev golang-github-vishvananda-netns-dev
  golang-github-google-nftables-dev golang-golang-x-sys-dev python3-pyroute2
  containernetworking-plugins netavark aardvark-dns)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "missing: ${missing[*]}" >&2; exit 1; }
echo "installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
