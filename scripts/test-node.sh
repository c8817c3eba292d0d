#!/usr/bin/env bash
# The Node package (bindings/node): built from the checkout (`napi build`, then tsc), packed with
# the workspace's depot CLI bundled, installed from the tarball into a scratch project the way a
# user installs it, then its tests run there (`node --test`, against a real depot-server, the
# Docker Engine's BuildKit and a second registry) and its types are checked (`tsc --noEmit`).
# Needs cargo's debug builds of depot and depot-server (scripts/test.sh builds them first) and
# dockerd. Build tools come from npm into bindings/node/node_modules (npm cache in .cache/npm).
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
PACKAGE="$REPO_ROOT/bindings/node"
TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
export npm_config_cache="$CACHE_DIR/npm" npm_config_update_notifier=false npm_config_fund=false \
  npm_config_audit=false
cd "$PACKAGE"

# npm install (at the lock file's versions) only when the lock file changed since the last one.
# (Not `npm ci`: npm 11 rejects this lock file for platform packages of optional dependencies.)
STAMP="node_modules/.depot-rs-lock.sha256"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$(sha256sum package-lock.json | cut -d' ' -f1)" ]; then
  log "Node package: installing its build tools (npm install)"
  npm install --silent --no-save
  sha256sum package-lock.json | cut -d' ' -f1 >"$STAMP"
fi

log "Node package: napi build (debug) and tsc"
npm run --silent build:native
npm run --silent build:ts

SCRATCH="$CACHE_DIR/node-scratch"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
log "Node package: npm pack, and npm install of the tarball into $SCRATCH"
DEPOT_CLI_BINARY="$TARGET/debug/depot" npm pack --silent --pack-destination "$SCRATCH" >/dev/null
version() { node -p "require('./node_modules/$1/package.json').version"; }
cat >"$SCRATCH/package.json" <<JSON
{ "name": "depot-rs-node-scratch", "private": true, "type": "module" }
JSON
cp -r test typecheck examples "$SCRATCH/"
(cd "$SCRATCH" && npm install --silent ./depot-rs-sdk-*.tgz \
  "typescript@$(cd "$PACKAGE" && version typescript)" \
  "@types/node@$(cd "$PACKAGE" && version @types/node)")

cd "$SCRATCH"
log "Node package: tsc --noEmit over typecheck/usage.ts"
npx tsc --noEmit -p typecheck/tsconfig.json
log "Node package: node --test"
DEPOT_SERVER_BIN="$TARGET/debug/depot-server" node --test test/*.test.mjs test/*.test.cjs
