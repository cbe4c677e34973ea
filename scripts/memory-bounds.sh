#!/usr/bin/env bash
# Peak memory of a running `chartroom serve` under the memory-amplification inputs of issue 17:
#   1. 8 concurrent uploads of a chart whose Chart.yaml is a YAML alias bomb (under 700 bytes),
#   2. 8 concurrent GET /api/charts/<name>/<version>/templates of a ~95 KB chart that unpacks to
#      95 MB (19 templates of 5 MB of zeros),
#   3. a start-up with a ChartMuseum index-cache.yaml of nested aliases (under 500 bytes).
# For each: VmHWM (peak resident set) of the server process before the attack and after it, from
# /proc/<pid>/status, and the answers' status codes.
#
# Usage: scripts/memory-bounds.sh [path/to/chartroom]   (default: target/debug/chartroom)
# Needs python3 and curl. Everything runs on 127.0.0.1 in a temporary folder; the server it
# starts is stopped by its pid.
set -euo pipefail

BIN=${1:-target/debug/chartroom}
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
PORT=${PORT:-18931}
PID=
cleanup() {
    if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 - "$WORK" <<'EOF'
import io, sys, tarfile, gzip
work = sys.argv[1]

def tgz(path, files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip.compress(raw.getvalue(), 9))

def bomb(prefix, levels=9):
    text = prefix + 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 9) + "]\n"
    return text

chart_yaml = bomb("apiVersion: v2\nname: bomb\nversion: 1.0.0\n") + "keywords: *a8\n"
tgz(f"{work}/bomb.tgz", [("bomb/Chart.yaml", chart_yaml.encode()), ("bomb/values.yaml", b"")])
for i in range(8):
    tgz(f"{work}/plain{i}.tgz", [("plain/Chart.yaml", f"apiVersion: v2\nname: plain\nversion: 1.0.{i}\n".encode()), ("plain/values.yaml", b"a: 1\n")])
big = [("big/Chart.yaml", b"apiVersion: v2\nname: big\nversion: 1.0.0\n"), ("big/values.yaml", b"a: 1\n")]
big += [(f"big/templates/t{i:02}.yaml", b"\0" * (5 * 1024 * 1024 - 1)) for i in range(19)]
tgz(f"{work}/big.tgz", big)
cache = "apiVersion: v1\nentries:\n  x:\n  - version: 1.0.0\n    digest: d\n    created: \"2024-01-01T00:00:00Z\"\n    extra: *a8\n"
open(f"{work}/index-cache.yaml", "w").write(bomb("z: 1\n") + cache)
EOF

hwm() { awk '/VmHWM/ {print $2" "$3}' "/proc/$1/status"; }

start() {
    local root=$1
    "$BIN" serve --listen-host 127.0.0.1 --port "$PORT" --storage local --storage-local-rootdir "$root" \
        --cache-interval 0 >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "server did not become ready; log:" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

stop() {
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
}

parallel() { # n command...
    local n=$1; shift
    local pids=()
    for _ in $(seq 1 "$n"); do "$@" >>"$WORK/codes" & pids+=($!); done
    wait "${pids[@]}"
}

echo "binary: $BIN"
echo
echo "| attack | VmHWM before | VmHWM after | answers |"
echo "|---|---|---|---|"

mkdir -p "$WORK/s0"
start "$WORK/s0"
before=$(hwm "$PID")
: >"$WORK/codes"
pids=()
for i in $(seq 0 7); do
    curl -s -o /dev/null -w '%{http_code}\n' --data-binary "@$WORK/plain$i.tgz" "http://127.0.0.1:$PORT/api/charts" >>"$WORK/codes" &
    pids+=($!)
done
wait "${pids[@]}"
echo "| (baseline) 8 concurrent uploads of ordinary charts | $before | $(hwm "$PID") | $(sort "$WORK/codes" | uniq -c | xargs) |"
stop

mkdir -p "$WORK/s1"
start "$WORK/s1"
before=$(hwm "$PID")
: >"$WORK/codes"
parallel 8 curl -s -o /dev/null -w '%{http_code}\n' --data-binary "@$WORK/bomb.tgz" "http://127.0.0.1:$PORT/api/charts"
echo "| 8 concurrent uploads of a Chart.yaml alias bomb ($(stat -c %s "$WORK/bomb.tgz") B .tgz) | $before | $(hwm "$PID") | $(sort "$WORK/codes" | uniq -c | xargs) |"
stop

mkdir -p "$WORK/s2"
cp "$WORK/big.tgz" "$WORK/s2/big-1.0.0.tgz"
start "$WORK/s2"
before=$(hwm "$PID")
: >"$WORK/codes"
parallel 8 curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/api/charts/big/1.0.0/templates"
echo "| 8 concurrent /templates of a $(stat -c %s "$WORK/big.tgz") B chart unpacking to 95 MB | $before | $(hwm "$PID") | $(sort "$WORK/codes" | uniq -c | xargs) |"
stop

mkdir -p "$WORK/s3"
cp "$WORK/big.tgz" "$WORK/s3/big-1.0.0.tgz"
cp "$WORK/index-cache.yaml" "$WORK/s3/index-cache.yaml"
start "$WORK/s3"
echo "| start with a $(stat -c %s "$WORK/index-cache.yaml") B index-cache.yaml of nested aliases | | $(hwm "$PID") | ready |"
stop
