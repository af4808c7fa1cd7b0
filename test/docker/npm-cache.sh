#!/usr/bin/env bash
# An npm cache holding every package of package-lock.json, so the agent image
# builds with `npm ci --offline` inside a network namespace without internet.
# Cached under CACHE_DIR by the lock file's hash. Prints the cache directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE_DIR=${FABRIC_TEST_CACHE:-/var/cache/fabric-test}
key=$(cat package-lock.json package.json | sha256sum | cut -c1-16)
out="$CACHE_DIR/npm-$key"
if [[ -d "$out/_cacache" ]]; then echo "$out"; exit 0; fi
mkdir -p "$CACHE_DIR"
work=$(mktemp -d "$CACHE_DIR/.npm-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/"
(cd "$work" && npm ci --cache "$work/cache" --no-fund --no-audit --ignore-scripts >/dev/null 2>"$work/npm.log") || { tail -20 "$work/npm.log" >&2; exit 1; }
rm -rf "$work/cache/_logs" "$work/cache/_update-notifier-last-checked"
mv "$work/cache" "$out"
echo "$out"
