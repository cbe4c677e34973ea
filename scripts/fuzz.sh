#!/usr/bin/env bash
# Time-boxed fuzzing of every parser that sees client bytes (outside the default test run).
#
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target...]
#
# Runs on the stable toolchain: cargo-fuzz (installed from crates.io when missing) builds with
# RUSTC_BOOTSTRAP=1 (libFuzzer's instrumentation flags are unstable `-C`/`-Z` flags) and without
# a sanitizer (`-s none`: the code under test is safe Rust; AddressSanitizer would need a
# sanitizer-built std and halves the speed). Each target starts from its committed seeds
# (`fuzz/seeds/<target>/`) plus inputs taken from `testdata/`, and keeps its corpus in
# `fuzz/corpus/<target>/` between runs. A crash stops that target (libFuzzer writes the input
# to `fuzz/artifacts/<target>/`); the others still run, and the script exits 1.
#
# Per target it prints executions, exec/s, corpus size, libFuzzer's coverage (`cov:` edges,
# `ft:` features) and crashes, and at the end a Markdown table (FUZZING in DEVELOPERS.md).
# Environment: FUZZ_RSS_MB (libFuzzer's -rss_limit_mb, default 2048). One process at a time.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true
all=(archive chart_yaml values constraint provenance multipart index_cache state routes oci_routes)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
rss="${FUZZ_RSS_MB:-2048}"

cargo fuzz --version 2>/dev/null | grep -q "^cargo-fuzz 0.13" || cargo install --locked cargo-fuzz@0.13.2
export RUSTC_BOOTSTRAP=1
fuzz() { cargo fuzz "$@"; }

# Seeds: the committed ones, then what testdata/ gives (charts, their Chart.yaml and
# values.yaml, provenance files, Masterminds' constraint table).
seed() { [ -e "$2/$(basename "$1")" ] || cp "$1" "$2/"; }
for t in "${all[@]}"; do
  mkdir -p "corpus/$t"
  for f in seeds/"$t"/*; do if [ -f "$f" ]; then seed "$f" "corpus/$t"; fi; done
done
while IFS= read -r f; do seed "$f" corpus/archive; done < <(find ../testdata/helm -name '*.tgz' -size -512k)
while IFS= read -r f; do seed "$f" corpus/provenance; done < <(find ../testdata/helm -name '*.prov')
n=0
while IFS= read -r tgz; do
  n=$((n + 1))
  tar -xzOf "$tgz" --wildcards '*/Chart.yaml' 2>/dev/null | head -c 65536 > "corpus/chart_yaml/testdata-$n" || true
  { printf '\0'; tar -xzOf "$tgz" --wildcards '*/values.yaml' 2>/dev/null | head -c 65536; } > "corpus/values/testdata-$n" || true
done < <(find ../testdata/helm -name '*.tgz' -size -512k | sort)
tail -n +2 ../testdata/semver/constraints.tsv | cut -f1,2 | head -300 | nl -ba | while IFS=$'\t' read -r n c v; do
  printf '%s\001%s' "$c" "$v" > "corpus/constraint/seed-${n// /}"
done

echo "== building the fuzz targets"
fuzz build -s none

summary=()
failed=0
for t in "${targets[@]}"; do
  echo "== $t (${secs}s)"
  log="$(mktemp)"
  set +e
  fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb="$rss" -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^#[0-9]+' "$log" | tail -n 2 || true
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  peak=$(grep -oE 'stat::peak_rss_mb: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  last=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -n 1 || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  corpus=$(find "corpus/$t" -type f | wc -l)
  crashes=0
  if [ "$rc" -ne 0 ]; then
    crashes=1
    failed=1
    echo "!! $t failed (exit $rc):"
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20 || tail -n 30 "$log"
  fi
  echo "$t: runs=$runs exec/s=$rate corpus=$corpus cov=$cov ft=$ft peak_rss_mb=$peak crashes=$crashes"
  summary+=("| \`$t\` | ${secs} | $runs | $rate | $corpus | $cov | $ft | $peak | $crashes |")
  rm -f "$log"
done

echo
echo "| target | seconds | executions | exec/s | corpus | cov | ft | peak RSS MB | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${summary[@]}"
exit "$failed"
