#!/usr/bin/env bash
# The one test command: installs what the tests drive (once, into ./.tools), then runs
# formatting and lint checks and every test of the workspace, end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
if [ "${CHARTROOM_IMAGE_TEST:-}" = 1 ]; then
  scripts/build-image.sh
fi
