#!/usr/bin/env bash
# Builds the base image tarball for the Docker test (no registry here): a
# Debian bookworm minbase rootfs (debootstrap) with iproute2 and iptables, plus
# this machine's Node binary and npm. Cached by content key under CACHE_DIR.
# Prints the tarball path. Runs only in the root namespace's filesystem: it
# downloads packages from the Debian mirror and starts nothing.
set -euo pipefail
CACHE_DIR=${FABRIC_TEST_CACHE:-/var/cache/fabric-test}
MIRROR=${FABRIC_TEST_MIRROR:-http://deb.debian.org/debian}
NODE=$(readlink -f "$(command -v node)")
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
PKGS=iproute2,iptables,ca-certificates
key=$(printf '%s\n' "bookworm $PKGS $MIRROR" "$("$NODE" --version)" "$(sha256sum "$NODE" | cut -c1-16)" "$(cat "$NPM_DIR/package.json" | sha256sum | cut -c1-16)" | sha256sum | cut -c1-16)
out="$CACHE_DIR/base-bookworm-$key.tar"
if [[ -s "$out" ]]; then echo "$out"; exit 0; fi
mkdir -p "$CACHE_DIR"
work=$(mktemp -d "$CACHE_DIR/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include="$PKGS" bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
install -m 0755 "$NODE" "$work/rootfs/usr/bin/node"
mkdir -p "$work/rootfs/usr/lib/node_modules"
cp -a "$NPM_DIR" "$work/rootfs/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/bin/npx"
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" --numeric-owner -cf "$work/base.tar" .
mv "$work/base.tar" "$out"
echo "$out"
