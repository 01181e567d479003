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
