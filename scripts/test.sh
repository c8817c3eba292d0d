#!/usr/bin/env bash
# The test command: installs everything depot-rs's tests need and runs every test suite.
#   Rust: unit and crate tests, then the end-to-end suite against SQLite and again against
#   PostgreSQL, with real depot-server processes and the official depot CLI; then the registry
#   suites once more with blobs in an S3-compatible server (moto); then the Python package
#   (built, installed with pip, tested and type-checked: scripts/test-python.sh).
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$REPO_ROOT"

install_system_packages
install_browser
install_official_cli
install_official_sdk_node
install_python_clients
start_dockerd
install_buildx
start_postgres
start_s3

log "checking formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "building"
cargo build --workspace --all-targets --locked

RESULTS="$(mktemp)"
# Tests that build give their Docker images unique names instead of removing images while builds
# run (see unique_image in tests/harness/docker.rs); they are removed here, after every suite.
CLEANUPS+=('docker images --format "{{.Repository}}:{{.Tag}}" | grep "^depot-rs-test/" | xargs -r docker rmi >/dev/null 2>&1')
log "Rust tests (SQLite)"
env -u DEPOT_TEST_DATABASE_URL -u DEPOT_TEST_S3_ENDPOINT cargo test --workspace --all-features --locked 2>&1 | tee -a "$RESULTS"

# Again on PostgreSQL: every suite that runs depot-server (the BuildKit client suites, which
# need no server, ran once above).
log "end-to-end tests (PostgreSQL)"
env -u DEPOT_TEST_S3_ENDPOINT cargo test -p depot-tests --tests --locked -- \
  --skip buildkit:: --skip dockerfile_builds:: 2>&1 | tee -a "$RESULTS"

log "registry tests with the S3 blob store (moto)"
env -u DEPOT_TEST_DATABASE_URL cargo test -p depot-tests --locked \
  --test it -- registry:: registry_clients:: pull_push:: 2>&1 | tee -a "$RESULTS"

log "Node package (bindings/node)"
bash "$REPO_ROOT/scripts/test-node.sh"

log "Python package"
bash "$REPO_ROOT/scripts/test-python.sh"

awk '/^test result:/ { passed += $4; failed += $6 } END { printf "rust: %d passed, %d failed\n", passed, failed }' "$RESULTS"
rm -f "$RESULTS"
