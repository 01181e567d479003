#!/usr/bin/env bash
# Runs every test: installs the pinned oracles (idempotent), then the whole cargo test suite.
# The oracle tests fail, never skip, when an oracle is missing.
# Release profile: the evaluator's property tests (no_panic, eval_*) take about 8x the CPU
# unoptimised, and .ci/run's later steps run the binary this build makes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/install-oracles.sh ]; then
  bash scripts/install-oracles.sh
fi
cargo test --locked --release --all-targets
# The library's unit tests once more unoptimised, where arithmetic overflow panics instead of
# wrapping: their exhaustive and random property tests (the JSON scanner, the address and time
# readers, the memo) then also check that no arithmetic goes out of range (session 20: a
# `n - 8` under zero for a 7-byte address wrapped unseen in the release build). About a minute.
cargo test --locked --lib
