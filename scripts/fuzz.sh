#!/usr/bin/env bash
# Fuzzes depot-rs's parsers of untrusted input with cargo-fuzz (libFuzzer), each target for a
# bounded time, a few at once: a nightly-style job, not part of CI (scripts/test.sh).
#   FUZZ_SECONDS  time per target (default 600)
#   FUZZ_JOBS     targets fuzzed at once (default: the number of cores)
#   arguments     the targets to run (default: every target in fuzz/Cargo.toml)
# Corpora are kept in fuzz/corpus/<target> (committed: each run starts from the last); a crash
# leaves its input in fuzz/artifacts/<target>, and this script exits non-zero.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$REPO_ROOT/fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
  log "installing the nightly Rust toolchain (cargo-fuzz needs it for sanitizers)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

seconds="${FUZZ_SECONDS:-600}"
jobs="${FUZZ_JOBS:-$(nproc)}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

log "building the fuzz targets"
cargo +nightly fuzz build -O

run_target() {
  local target="$1" out
  out="$(mktemp)"
  mkdir -p "corpus/$target" "artifacts/$target"
  if cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="artifacts/$target/" >"$out" 2>&1; then
    echo "$target: $(grep -E '^#[0-9]+' "$out" | tail -n 1 | cut -c1-100) — no crash in ${seconds}s"
  else
    echo "$target: FAILED after $(grep -cE '^#[0-9]+' "$out") status lines; log:"
    tail -n 40 "$out"
    return 1
  fi
}

log "fuzzing each target for ${seconds}s, ${jobs} at once"
failed=0
running=0
for target in "${targets[@]}"; do
  run_target "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
# Keep corpora small: merge each into its minimal covering set.
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target.min"
  cargo +nightly fuzz run -O "$target" "corpus/$target.min" "corpus/$target" -- -merge=1 >/dev/null 2>&1 \
    && rm -rf "corpus/$target" && mv "corpus/$target.min" "corpus/$target" \
    || rm -rf "corpus/$target.min"
done
exit "$failed"
