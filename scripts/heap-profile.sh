#!/usr/bin/env bash
# Where the server's heap goes at N versions (issue 16; BENCHMARKS.md "Memory: where the bytes go").
# Builds the debug binary with `--features heap-profile` (system allocator, so heaptrack sees every
# allocation), generates N minimal charts once (python3; Chart.yaml as `helm create` writes it, so
# each index entry is the bench's), cold-starts the server on them to write the persisted state,
# then restarts it under heaptrack, GETs /index.yaml (plain and gzip), prints RSS, and kills it
# (SIGKILL: what is still allocated then is the steady-state heap, reported as "leaked").
# Usage: scripts/heap-profile.sh [N, default 100000] [port, default 18130]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
port="${2:-18130}"
command -v heaptrack >/dev/null 2>&1 || {
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y heaptrack
}
cargo build --locked --bin chartroom --features heap-profile
data="target/bench-data/heap-charts-$n"
mkdir -p "$data"
python3 scripts/minimal-charts.py "$data" "$n"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -al "$data/." "$work/"
serve=(target/debug/chartroom serve --listen-host 127.0.0.1 --port "$port" --storage local
  --storage-local-rootdir "$work" --cache-interval 0)
wait_ready() { until curl -sf -o /dev/null "http://127.0.0.1:$port/index.yaml"; do sleep 0.5; done; }
"${serve[@]}" >"$work.cold.log" 2>&1 &
pid=$!
wait_ready
kill -TERM "$pid"; wait "$pid" || true
out="target/bench-data/heap-$n"
rm -f "$out".zst
heaptrack -o "$out" "${serve[@]}" >"$work.log" 2>&1 &
hpid=$!
wait_ready
for _ in 1 2 3; do
  curl -s -o /dev/null "http://127.0.0.1:$port/index.yaml"
  curl -s -H 'Accept-Encoding: gzip' -o /dev/null "http://127.0.0.1:$port/index.yaml"
done
echo "index body: $(curl -s "http://127.0.0.1:$port/index.yaml" | wc -c) bytes"
spid="$(pgrep -P "$hpid" -f "serve --listen-host" | head -1)"
grep -E "VmRSS|VmHWM" "/proc/$spid/status"
kill -KILL "$spid"; wait "$hpid" || true
heaptrack_print -f "$out".zst --print-leaks 1 --print-peaks 0 --print-allocators 0 --print-temporary 0 \
  >"$out".txt 2>/dev/null || true
grep -E "^(peak heap memory|total memory leaked)" "$out".txt
echo "live heap by site (steady state): $out.txt, section MEMORY LEAKS"
