#!/usr/bin/env bash
# What a start costs per tenant (issue 16: 10,000 tenants x 10 versions). Generates T tenant folders
# of V minimal charts each once (the same V archives hard-linked into every folder, as the bench's
# tenant scenario does), then with the given binary (default target/debug/chartroom):
#   cold start (no state), restart with the per-tenant state written at shutdown;
# for each: seconds until /health/ready, RSS and VmHWM, and the sum of the tenants' index bodies.
# With `--callgrind`, the restart runs under `valgrind --tool=callgrind` (counted until ready,
# dumped with callgrind_control) and the top functions are printed (`--callgrind-cold`: a cold
# start without state instead); with `--heaptrack`, the restart
# runs under heaptrack (build with `--features heap-profile` so that heaptrack sees every
# allocation) and the live heap is printed after the bodies were fetched.
# Usage: scripts/tenant-profile.sh [T, default 2000] [V, default 10]
#        [--callgrind|--callgrind-cold|--heaptrack]
#        [--binary PATH] [--port N]
set -euo pipefail
cd "$(dirname "$0")/.."
tenants="${1:-2000}"
versions="${2:-10}"
shift $(( $# >= 2 ? 2 : $# ))
mode="" binary="target/debug/chartroom" port=18140
while [ $# -gt 0 ]; do
  case "$1" in
    --callgrind|--callgrind-cold|--heaptrack) mode="$1" ;;
    --binary) binary="$2"; shift ;;
    --port) port="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
data="target/bench-data/tenant-charts-$versions"
mkdir -p "$data"
python3 scripts/minimal-charts.py "$data" "$versions"
work="$(mktemp -d)"
trap 'rm -rf "$work" "$work".*' EXIT
for i in $(seq -f "%05g" 0 $((tenants - 1))); do
  mkdir "$work/team-$i"
  cp -l "$data"/*.tgz "$work/team-$i/"
done
serve=("$binary" serve --listen-host 127.0.0.1 --port "$port" --storage local
  --storage-local-rootdir "$work" --cache-interval 0 --depth 1)
url="http://127.0.0.1:$port"
wait_ready() { until curl -sf -o /dev/null "$url/health/ready"; do sleep 0.05; done; }
mem() { grep -E "VmRSS|VmHWM" "/proc/$1/status" | tr -s ' \t' ' ' | tr '\n' ' '; }
bodies() {
  local sum=0 n
  for i in $(seq -f "%05g" 0 $((tenants - 1))); do
    n=$(curl -s "$url/team-$i/index.yaml" | wc -c); sum=$((sum + n))
  done
  echo "$sum"
}
start=$(date +%s.%N)
"${serve[@]}" >"$work.cold.log" 2>&1 &
pid=$!
wait_ready
echo "cold start, $tenants tenants x $versions versions: $(echo "$(date +%s.%N) - $start" | bc) s; $(mem $pid)"
echo "sum of the tenants' index bodies: $(bodies) bytes; after serving them: $(mem $pid)"
kill -TERM "$pid"; wait "$pid" || true
for round in 1 2; do
  start=$(date +%s.%N)
  "${serve[@]}" >"$work.warm.log" 2>&1 &
  pid=$!
  wait_ready
  echo "restart $round with state: $(echo "$(date +%s.%N) - $start" | bc) s; $(mem $pid)"
  kill -TERM "$pid"; wait "$pid" || true
done
out="target/bench-data/tenant-profile-$tenants-$versions"
case "$mode" in
  --callgrind|--callgrind-cold)
    if [ "$mode" = --callgrind-cold ]; then
      rm -rf "$work"/.chartroom "$work"/*/.chartroom
      out="$out-cold"
    fi
    rm -f "$out".callgrind*
    valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" "${serve[@]}" >"$work.cg.log" 2>&1 &
    vpid=$!
    wait_ready
    callgrind_control -d "$vpid" >/dev/null
    sleep 2
    kill -TERM "$vpid"; wait "$vpid" || true
    dump="$(ls "$out".callgrind.* | head -1)"
    callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | grep -v "^--\|^$" | head -${TOP:-80}
    echo "callgrind dump (restart until ready): $dump"
    ;;
  --heaptrack)
    rm -f "$out".zst
    heaptrack -o "$out" "${serve[@]}" >"$work.ht.log" 2>&1 &
    hpid=$!
    wait_ready
    echo "sum of the tenants' index bodies: $(bodies) bytes"
    spid="$(pgrep -P "$hpid" -f "serve --listen-host" | head -1)"
    echo "under heaptrack after serving: $(mem "$spid")"
    kill -KILL "$spid"; wait "$hpid" || true
    heaptrack_print -f "$out".zst --print-leaks 1 --print-peaks 0 --print-allocators 0 --print-temporary 0 \
      >"$out".txt 2>/dev/null || true
    grep -E "^(peak heap memory|total memory leaked)" "$out".txt
    echo "live heap by site: $out.txt, section MEMORY LEAKS"
    ;;
esac
