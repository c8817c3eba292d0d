#!/usr/bin/env bash
# Builds the depot-rs wheel into $1 (default: target/wheels): the depot CLI of this workspace,
# bundled as package data, and the native module (debug builds unless MATURIN_ARGS says
# --release). DEPOT_CLI_BINARY names an already built CLI to bundle instead of building one.
# Needs cargo and maturin on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../target/wheels}"
target_dir="${CARGO_TARGET_DIR:-$here/../../target}"
profile=debug
case " ${MATURIN_ARGS:-} " in *" --release "*) profile=release ;; esac
cargo_flags=()
[ "$profile" = release ] && cargo_flags+=(--release)
cli="${DEPOT_CLI_BINARY:-}"
if [ -z "$cli" ]; then
  cargo build -p depot --locked "${cargo_flags[@]}"
  cli="$target_dir/$profile/depot"
fi
mkdir -p "$here/python/depot_rs/_bin"
install -m 0755 "$cli" "$here/python/depot_rs/_bin/depot"
# shellcheck disable=SC2086
maturin build --manifest-path "$here/Cargo.toml" --locked --out "$out" ${MATURIN_ARGS:-}
