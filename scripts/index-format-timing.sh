#!/usr/bin/env bash
# Release figures of issue 16 on one repository of N minimal charts (default 100,000):
#   * restart with persisted state: spawn -> /health/ready, three runs;
#   * resident memory after serving /index.yaml (plain and gzip, YAML and JSON), per format;
#   * `helm repo add` + `helm repo update` + `helm search repo` wall time, Helm 3.17 and 4.1,
#     with --index-format yaml and with auto (JSON to Helm >= 3.13), three runs each;
#     both formats must give the same search output.
# Usage: scripts/index-format-timing.sh [N] [chartroom binary, default target/release/chartroom]
# Prints a Markdown table (BENCHMARKS.md, "Helm clients and the JSON index").
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
binary="${2:-target/release/chartroom}"
port=18150
url="http://127.0.0.1:$port"
scripts/install-test-tools.sh >/dev/null
[ -x "$binary" ] || cargo build --release --locked --bin chartroom
data="target/bench-data/heap-charts-$n"
python3 scripts/minimal-charts.py "$data" "$n"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/repo"
cp -al "$data/." "$work/repo/"
pid="" ready=""

start() { # $1: index format; sets pid and ready (seconds from spawn to /health/ready)
  local t0
  t0=$(date +%s.%N)
  "$binary" serve --listen-host 127.0.0.1 --port "$port" --storage local \
    --storage-local-rootdir "$work/repo" --cache-interval 0 --index-format "$1" >>"$work/server.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "$url/health/ready"; do sleep 0.02; done
  ready=$(echo "$(date +%s.%N) - $t0" | bc)
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }

start yaml
echo "cold start ($n versions, no state): $ready s"
body=$(curl -s "$url/index.yaml" | wc -c)
stop
echo "index body (YAML): $body bytes"
echo
echo "| format | restart -> ready (s, 3 runs) | RSS after serving (MiB) | helm | repo add + update + search (s, 3 runs) |"
echo "|---|---|---:|---|---|"
for format in yaml auto; do
  restarts=()
  for _ in 1 2 3; do
    start "$format"
    restarts+=("$ready")
    stop
  done
  start "$format"
  for enc in identity gzip; do
    curl -s -H "Accept-Encoding: $enc" -o /dev/null "$url/index.yaml"
    curl -s -A "Helm/3.17.2" -H "Accept-Encoding: $enc" -o /dev/null "$url/index.yaml"
  done
  mem=$(rss)
  for helm in helm3 helm4; do
    runs=()
    for i in 1 2 3; do
      home="$work/helm-$format-$helm-$i"
      mkdir -p "$home"
      export HELM_CONFIG_HOME="$home/config" HELM_CACHE_HOME="$home/cache" HELM_DATA_HOME="$home/data"
      t0=$(date +%s.%N)
      ".tools/bin/$helm" repo add bench "$url" >/dev/null
      ".tools/bin/$helm" repo update bench >/dev/null
      ".tools/bin/$helm" search repo bench/bench-chart-0001 --versions >"$work/search-$format-$helm"
      runs+=("$(echo "$(date +%s.%N) - $t0" | bc)")
    done
    echo "| $format | ${restarts[*]} | $mem | $helm | ${runs[*]} |"
  done
  stop
done
for helm in helm3 helm4; do
  cmp -s "$work/search-yaml-$helm" "$work/search-auto-$helm" || { echo "search output differs for $helm" >&2; exit 1; }
done
echo
echo "search output identical between yaml and auto for helm3 and helm4 ($(wc -l <"$work/search-auto-helm4") lines)"
