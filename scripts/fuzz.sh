#!/usr/bin/env bash
# Time-boxed fuzzing of the pure chart crate (outside the default test run).
# Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p corpus/archive corpus/chart_yaml corpus/constraint corpus/provenance
find ../testdata/helm -name '*.tgz' -exec cp {} corpus/archive/ \;
find ../testdata/helm -name '*.prov' -exec cp {} corpus/provenance/ \;
cut -f1 ../testdata/semver/constraints.tsv | tail -n +2 | head -200 | nl -ba | while read -r n c; do
  printf '%s' "$c" > "corpus/constraint/seed-$n"
done
for t in archive chart_yaml constraint provenance; do
  echo "== $t (${secs}s)"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 4
done
