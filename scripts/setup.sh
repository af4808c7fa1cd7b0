#!/usr/bin/env bash
# Installs what fabric's demo and tests need on a fresh Debian machine (run as
# root): iproute2 and friends, BIRD 2 and FRR (test peers), tcpdump; then the
# npm dependencies. Package services are kept from starting: BIRD and FRR must
# only ever run inside the tests' own network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(iproute2 iputils-ping procps psmisc kmod iptables bird2 frr tcpdump docker.io containerd runc busybox-static debootstrap util-linux)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi
# never leave a packaged daemon running in the root namespace
for svc in bird frr docker docker.socket containerd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done

npm ci --no-fund --no-audit
