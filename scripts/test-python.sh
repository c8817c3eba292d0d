#!/usr/bin/env bash
# The Python package's tests: builds the depot-rs wheel from this checkout (debug builds in
# cargo's target directory), installs it with pip into a venv the way a user would, runs its
# pytest suite against real depot-server processes, Docker Engine's BuildKit and a CNCF
# distribution registry, and type-checks a usage file, the example and the installed package
# with `mypy --strict`.
# Called by scripts/test.sh; also runs on its own.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$REPO_ROOT"

install_system_packages
start_dockerd

TOOLS="$CACHE_DIR/python-sdk-tools"   # maturin, to build the wheel
VENV="$CACHE_DIR/python-sdk-venv"     # where the wheel is installed, with pytest and mypy
WHEELS="$CACHE_DIR/python-wheels"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

new_venv() {
  python3 -m venv "$1" >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$1"
  }
}

if ! "$TOOLS/bin/maturin" --version >/dev/null 2>&1; then
  log "installing maturin from PyPI"
  new_venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check 'maturin>=1.5,<2'
fi
if ! "$VENV/bin/python" -c "import pytest, pytest_asyncio, mypy" >/dev/null 2>&1; then
  log "installing pytest, pytest-asyncio and mypy from PyPI"
  new_venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pytest pytest-asyncio mypy
fi

# The workspace build scripts/test.sh made (a no-op after it): depot-server for the tests, and
# the depot CLI the wheel bundles.
cargo build --workspace --all-targets --locked
log "building the depot-rs wheel"
rm -rf "$WHEELS"
PATH="$TOOLS/bin:$PATH" DEPOT_CLI_BINARY="$TARGET_DIR/debug/depot" \
  bash bindings/python/build-wheel.sh "$WHEELS"

log "installing the wheel with pip"
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/depot_rs-*.whl

log "Python tests"
# From the tests' own directory, so `import depot_rs` can only find the installed package.
(cd bindings/python/tests && DEPOT_RS_BIN_DIR="$TARGET_DIR/debug" \
  "$VENV/bin/python" -m pytest -p no:cacheprovider -q)

log "type checking (mypy --strict): a usage file, the example, and the installed package"
(cd bindings/python/typecheck && "$VENV/bin/mypy" --strict --no-incremental \
  usage.py "$REPO_ROOT/examples/python/build_and_pull.py" && "$VENV/bin/mypy" --strict --no-incremental -p depot_rs)
