#!/usr/bin/env bash
# The soak test (see DEVELOPERS.md, "Soak"): mixed load on local storage and on two replicas
# over one S3 bucket (s3s-fs) for the given minutes (default 20), then the checks: no response
# besides 2xx and the expected conflicts, flat memory and descriptors, storage and index in
# agreement. Exits non-zero on any violation. Extra arguments go to the soak binary
# (benches/soak/, `--help` lists them). The report is also written to target/soak/last-run.md.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-20}"
shift || true

scripts/install-test-tools.sh
cargo build --release --locked --bin chartroom
mkdir -p target/soak
cargo bench --locked --bench soak -- --minutes "$minutes" --server target/release/chartroom \
  --s3s-fs .tools/bin/s3s-fs --helm .tools/bin/helm4 "$@" | tee target/soak/last-run.md
exit "${PIPESTATUS[0]}"
