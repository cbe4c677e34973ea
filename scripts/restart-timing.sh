#!/usr/bin/env bash
# Restart with persisted state, side by side: for each binary given, one cold start on its own
# copy of N minimal charts (writes the state), then RUNS restarts per binary, alternating between
# the binaries; each restart is spawn -> /health/ready (polled every 10 ms), with the CPU time the
# server used until then (user + system, from /proc: on a loaded machine the wall time is mostly
# waiting for a core), the phases the index logs at debug level, and the RSS after serving
# /index.yaml (plain and gzip) once.
# Usage: scripts/restart-timing.sh N RUNS BINARY [BINARY...]
# SHARED=1: one copy and one cold start (by the first binary) for all binaries (they must read the
# same state format; a restart that changes nothing writes no state), for sizes where a cold start
# per binary takes too long (1,000,000).
# Charts are cached in target/bench-data/heap-charts-N (scripts/minimal-charts.py).
set -euo pipefail
cd "$(dirname "$0")/.."
n="$1" runs="$2"
shift 2
port=18160
url="http://127.0.0.1:$port"
data="target/bench-data/heap-charts-$n"
python3 scripts/minimal-charts.py "$data" "$n"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() { # $1: binary, $2: repo, $3: log; sets pid and ready (seconds from spawn to ready)
  local t0
  t0=$(date +%s.%N)
  CHARTROOM_LOG=info,chartroom_index=debug "$1" serve --listen-host 127.0.0.1 --port "$port" \
    --storage local --storage-local-rootdir "$2" --cache-interval 0 >"$3" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "$url/health/ready"; do sleep 0.01; done
  ready=$(echo "$(date +%s.%N) - $t0" | bc)
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat")
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }
phases() { # the debug fields of the start, from its log
  grep -oE '(list_and_state_ms|restore_ms|reconciled_ms|snapshots_ms|elapsed_ms)=[0-9]+' "$1" | tr '\n' ' '
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
repo() { if [ "${SHARED:-0}" = 1 ]; then echo "$work/repo0"; else echo "$work/repo$1"; fi; }
i=0
for binary in "$@"; do
  if [ "${SHARED:-0}" = 1 ] && [ "$i" -gt 0 ]; then break; fi
  mkdir "$work/repo$i"
  cp -al "$data/." "$work/repo$i/"
  start "$binary" "$work/repo$i" "$work/cold$i.log"
  body=$(curl -s "$url/index.yaml" | wc -c)
  stop
  echo "$binary: cold start $ready s (CPU $cpu s), body $body bytes, state $(stat -c %s "$work/repo$i/.chartroom/index-state.bin") bytes"
  i=$((i + 1))
done
for r in $(seq 1 "$runs"); do
  i=0
  for binary in "$@"; do
    start "$binary" "$(repo "$i")" "$work/run$i-$r.log"
    for enc in identity gzip; do curl -s -H "Accept-Encoding: $enc" -o /dev/null "$url/index.yaml"; done
    rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
    stop
    echo "run $r $binary: restart -> ready $ready s, CPU $cpu s; RSS after serving $rss MiB; $(phases "$work/run$i-$r.log")(load $(cut -d' ' -f1 /proc/loadavg))"
    i=$((i + 1))
  done
done
