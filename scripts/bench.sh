#!/usr/bin/env bash
# The benchmark command (see BENCHMARKS.md). Installs what it drives (wrk and nginx from apt,
# Helm 3.17 via scripts/install-test-tools.sh), builds the release binary, then runs the bench
# binary (benches/repository/), which prints a Markdown report. Extra arguments are passed to the
# bench binary, e.g. `scripts/bench.sh --big-versions 0` to skip the 100,000-version test.
# The report is also written to target/bench-data/last-run.md.
# `scripts/bench.sh --million`: only the 1,000,000-version repository and the 10,000-tenant start
# (issue 16; about 30 min the first time, the charts are cached), report in last-run-million.md.
# `scripts/bench.sh callgrind`: instruction counts of a cold build and of uploads under valgrind
# (issue 16; extra arguments as above, e.g. `--server <other binary>`), in last-run-callgrind.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# `scripts/bench.sh ui`: the web catalogue's pages in process (server/benches/ui.rs); needs nothing installed.
if [ "${1:-}" = "ui" ]; then
  shift
  mkdir -p target/bench-data
  cargo bench --locked -p chartroom-server --bench ui -- "$@" | tee target/bench-data/last-run-ui.md
  exit 0
fi

need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ "${1:-}" = "callgrind" ]; then
  command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  if ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}"; then
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}"
  fi
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

scripts/install-test-tools.sh

cargo build --release --locked --bin chartroom
mkdir -p target/bench-data
if [ "${1:-}" = "oci" ]; then
  shift
  if ! command -v docker-registry >/dev/null 2>&1; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry
  fi
  cargo bench --locked --bench oci -- --server target/release/chartroom --helm .tools/bin/helm4 \
    --registry "$(command -v docker-registry)" "$@" | tee target/bench-data/last-run-oci.md
  exit 0
fi
if [ "${1:-}" = "callgrind" ]; then
  shift
  cargo bench --locked --bench repository -- --server target/release/chartroom \
    --callgrind "$(command -v valgrind)" "$@" | tee target/bench-data/last-run-callgrind.md
  exit 0
fi
if [ "${1:-}" = "--million" ]; then
  cargo bench --locked --bench repository -- --server target/release/chartroom \
    --helm .tools/bin/helm3 --helm4 .tools/bin/helm4 --wrk "$(command -v wrk)" --nginx "$nginx_bin" \
    "$@" | tee target/bench-data/last-run-million.md
  exit 0
fi
if [ "${1:-}" = "replication" ]; then
  shift
  cargo bench --locked --bench replication -- --server target/release/chartroom --s3s-fs .tools/bin/s3s-fs "$@" \
    | tee target/bench-data/last-run-replication.md
  exit 0
fi
cargo bench --locked --bench repository -- \
  --server target/release/chartroom \
  --helm .tools/bin/helm3 \
  --helm4 .tools/bin/helm4 \
  --wrk "$(command -v wrk)" \
  --nginx "$nginx_bin" \
  "$@" | tee target/bench-data/last-run.md
cargo bench --locked --bench replication -- --server target/release/chartroom --s3s-fs .tools/bin/s3s-fs \
  | tee target/bench-data/last-run-replication.md
