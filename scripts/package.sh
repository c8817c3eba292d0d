#!/usr/bin/env bash
# Builds depot-rs's release artifacts into one folder (default: dist/), optimized:
#   depot                                     the CLI
#   depot-server                              the server
#   depot-rs-sdk-<version>.tgz                the Node package (@depot-rs/sdk), with the CLI bundled
#   depot_rs-<version>-cp39-abi3-*.whl        the Python package (depot-rs), with the CLI bundled
# Installs what it needs (Debian packages, Node build tools from npm into bindings/node's
# node_modules without touching its lock file, maturin from PyPI into .cache) and is safe to
# re-run. Usage: bash scripts/package.sh [OUT_DIR]
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
OUT="$(mkdir -p "${1:-$REPO_ROOT/dist}" && cd "${1:-$REPO_ROOT/dist}" && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
cd "$REPO_ROOT"

install_system_packages

log "building the CLI and the server (release)"
cargo build --release --locked -p depot -p depot-server
install -m 0755 "$TARGET/release/depot" "$TARGET/release/depot-server" "$OUT/"

log "Node package: napi build (release), tsc, npm pack"
(
  cd bindings/node
  export npm_config_cache="$CACHE_DIR/npm" npm_config_update_notifier=false \
    npm_config_fund=false npm_config_audit=false
  # --no-save: the tracked package-lock.json stays as it is.
  npm install --silent --no-save
  npx napi build --release --platform --output-dir native --js native.js --dts native.d.ts
  npm run --silent build:ts
  rm -f "$OUT"/depot-rs-sdk-*.tgz
  DEPOT_CLI_BINARY="$TARGET/release/depot" npm pack --silent --pack-destination "$OUT" >/dev/null
)

log "Python package: maturin build (release)"
TOOLS="$CACHE_DIR/python-sdk-tools"
if ! "$TOOLS/bin/maturin" --version >/dev/null 2>&1; then
  python3 -m venv "$TOOLS" >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$TOOLS"
  }
  "$TOOLS/bin/pip" install -q --disable-pip-version-check 'maturin>=1.5,<2'
fi
rm -f "$OUT"/depot_rs-*.whl
PATH="$TOOLS/bin:$PATH" MATURIN_ARGS=--release DEPOT_CLI_BINARY="$TARGET/release/depot" \
  bash bindings/python/build-wheel.sh "$OUT"

log "release artifacts in $OUT:"
ls -1 "$OUT" >&2
