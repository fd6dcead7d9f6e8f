#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if missing:
# the test oracles (ip, nft, conntrack, ping), the C++ formatter, etcd (the
# overlay tests run a real one on loopback), the compiler toolchain for the
# addon, and clang with its sanitizer and libFuzzer runtimes (fuzz/; Debian
# 12's clang is 14). Run as root: bash scripts/install-deps.sh
set -euo pipefail
packages=(iproute2 nftables conntrack iputils-ping util-linux clang-format g++ make python3 etcd-server clang
  libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
