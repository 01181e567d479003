#!/usr/bin/env bash
# Runs every test: installs the pinned oracles (idempotent), then the whole cargo test suite.
# The oracle tests fail, never skip, when an oracle is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/install-oracles.sh ]; then
  bash scripts/install-oracles.sh
fi
cargo test --locked --all-targets
