#!/usr/bin/env bash
# The one test command: installs what the tests drive (once, into ./.tools), then runs
# formatting and lint checks and every test of the workspace, end-to-end tests included; the
# end-to-end suite runs twice: on local storage, then on a real S3 server (s3s-fs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
CHARTROOM_E2E_STORAGE=local cargo test --workspace --locked
CHARTROOM_E2E_STORAGE=s3 cargo test --locked --test e2e
if [ "${CHARTROOM_IMAGE_TEST:-}" = 1 ]; then
  scripts/build-image.sh
fi
