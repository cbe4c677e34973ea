#!/usr/bin/env bash
# Peak memory of a running `chartroom serve` under the memory-amplification inputs of issue 17,
# each at 8 and at 32 concurrent requests (a fresh server for each line):
#   * uploads of a chart whose Chart.yaml is a YAML alias bomb (under 700 bytes),
#   * GET /api/charts/<name>/<version>/templates of a ~95 KB chart that unpacks to 95 MB
#     (19 templates of 5 MB of zeros),
#   * GET /api/charts/<name>/<version>/values of a chart whose values.yaml is 0.9 MB of small
#     maps (60,000 keys of two-item lists, just under the 250,000-node budget of values files),
#   * uploads of bodies of the largest allowed size (--max-upload-size, 20 MiB of random bytes),
#   * OCI blob uploads in one request (POST /v2/<name>/blobs/uploads/?digest=, 20 MiB each),
#   * and a start-up with a ChartMuseum index-cache.yaml of nested aliases (under 600 bytes).
# For each: VmRSS of the idle server before the attack, VmHWM (peak resident set) after it, the
# growth (peak minus idle), all from /proc/<pid>/status, and the answers' status codes.
#
# Usage: scripts/memory-bounds.sh [path/to/chartroom] [extra serve flags...]
#   (default: target/release/chartroom; measure release builds, debug ones differ a lot)
# Needs python3 and curl. Everything runs on 127.0.0.1 in a temporary folder; the server it
# starts is stopped by its pid.
set -euo pipefail

BIN=${1:-target/release/chartroom}
BIN=$(realpath "$BIN")
shift || true
EXTRA=("$@")
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
vals = "".join(f"k{i}: [1, 2]\n" for i in range(60000)).encode()
tgz(f"{work}/bigvalues.tgz", [("bigvalues/Chart.yaml", b"apiVersion: v2\nname: bigvalues\nversion: 1.0.0\n"), ("bigvalues/values.yaml", vals)])
import os, hashlib
blob = os.urandom(20971520)
open(f"{work}/max.bin", "wb").write(blob)
open(f"{work}/max.sha256", "w").write(hashlib.sha256(blob).hexdigest())
cache = "apiVersion: v1\nentries:\n  x:\n  - version: 1.0.0\n    digest: d\n    created: \"2024-01-01T00:00:00Z\"\n    extra: *a8\n"
open(f"{work}/index-cache.yaml", "w").write(bomb("z: 1\n") + cache)
EOF

mb() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k / 1024 }'; }
field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

start() {
    local root=$1
    "$BIN" serve --listen-host 127.0.0.1 --port "$PORT" --storage local --storage-local-rootdir "$root" \
        --cache-interval 0 "${EXTRA[@]}" >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do
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

# attack <label> <concurrency> <setup: files to put in storage...> -- <curl arguments...>
attack() {
    local label=$1 n=$2; shift 2
    local root="$WORK/root-$RANDOM$RANDOM"
    mkdir -p "$root"
    while [[ $1 != -- ]]; do cp "$WORK/$1" "$root/${1%.tgz}-1.0.0.tgz"; shift; done
    shift
    start "$root"
    sleep 0.5
    local idle
    idle=$(field "$PID" VmRSS)
    : >"$WORK/codes"
    local pids=()
    for _ in $(seq 1 "$n"); do
        curl -s -o /dev/null -w '%{http_code}\n' "$@" >>"$WORK/codes" &
        pids+=($!)
    done
    wait "${pids[@]}"
    local peak
    peak=$(field "$PID" VmHWM)
    echo "| $label | $n | $(mb "$idle") | $(mb "$peak") | **+$(mb $((peak - idle)))** | $(sort "$WORK/codes" | uniq -c | xargs) |"
    stop
    rm -rf "$root"
}

URL="http://127.0.0.1:$PORT"
echo "binary: $BIN ${EXTRA[*]}"
echo
echo "| attack | concurrent | idle VmRSS | peak VmHWM | growth | answers (count code) |"
echo "|---|---:|---:|---:|---:|---|"
for n in 8 32; do
    attack "uploads of ordinary charts (baseline)" "$n" -- --data-binary "@$WORK/plain0.tgz" "$URL/api/charts"
done
for n in 8 32; do
    attack "uploads of a Chart.yaml alias bomb ($(stat -c %s "$WORK/bomb.tgz") B .tgz)" "$n" -- \
        --data-binary "@$WORK/bomb.tgz" "$URL/api/charts"
done
for n in 8 32; do
    attack "/templates of a $(stat -c %s "$WORK/big.tgz") B chart unpacking to 95 MB" "$n" big.tgz -- \
        "$URL/api/charts/big/1.0.0/templates"
done
for n in 8 32; do
    attack "/values of a $(stat -c %s "$WORK/bigvalues.tgz") B chart, 0.9 MB values.yaml of 240,000 nodes" "$n" bigvalues.tgz -- \
        "$URL/api/charts/bigvalues/1.0.0/values"
done
for n in 8 32; do
    attack "uploads of 20 MiB bodies (--max-upload-size)" "$n" -- --data-binary "@$WORK/max.bin" "$URL/api/charts"
done
for n in 8 32; do
    attack "OCI blob uploads of 20 MiB in one request" "$n" big.tgz -- --data-binary "@$WORK/max.bin" \
        -H 'content-type: application/octet-stream' "$URL/v2/big/blobs/uploads/?digest=sha256:$(cat "$WORK/max.sha256")"
done

mkdir -p "$WORK/s3"
cp "$WORK/big.tgz" "$WORK/s3/big-1.0.0.tgz"
cp "$WORK/index-cache.yaml" "$WORK/s3/index-cache.yaml"
start "$WORK/s3"
echo "| start with a $(stat -c %s "$WORK/index-cache.yaml") B index-cache.yaml of nested aliases | | | $(mb "$(field "$PID" VmHWM)") | | ready |"
stop
