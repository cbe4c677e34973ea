#!/usr/bin/env bash
# Builds the Chartroom image with podman, from base images made locally (no registry images needed):
#   * runtime base: a distroless-like root filesystem (glibc, libgcc, CA certificates, a nonroot
#     user) taken from a `debootstrap` Debian rootfs and `podman import`ed;
#   * build base: the same Debian rootfs with gcc, plus this machine's Rust toolchain.
# Then it takes the binary out of the built image and runs it to answer /health.
# Usage: scripts/build-image.sh [image tag, default localhost/chartroom:dev]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tag="${1:-localhost/chartroom:dev}"
work="${CHARTROOM_IMAGE_WORK:-$root/target/image-build}"
podman=(podman --storage-driver=vfs --cgroup-manager=cgroupfs)
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$work"

for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap; }
done

started=$(date +%s)
rootfs="$work/debian-rootfs"
if [ ! -x "$rootfs/usr/bin/gcc" ]; then
  rm -rf "$rootfs"
  echo "== debootstrap bookworm (minbase + gcc, libc6-dev, ca-certificates)"
  debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm "$rootfs" "$mirror" >"$work/debootstrap.log"
fi

echo "== build base: Debian rootfs + Rust $(rustc --version | cut -d' ' -f2)"
toolchain="$(rustc --print sysroot)"
rm -rf "$rootfs/usr/local/rust" && cp -a "$toolchain" "$rootfs/usr/local/rust"
ln -sf /usr/local/rust/bin/cargo "$rootfs/usr/local/bin/cargo"
ln -sf /usr/local/rust/bin/rustc "$rootfs/usr/local/bin/rustc"
# The build fetches crates: trust the same CAs as this machine (it may sit behind an egress proxy).
cp "$rootfs/etc/ssl/certs/ca-certificates.crt" "$work/debian-ca-certificates.crt"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
tar -C "$rootfs" -c . | "${podman[@]}" import - localhost/chartroom-build-base:local >/dev/null
cp "$work/debian-ca-certificates.crt" "$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs/usr/local/rust" "$rootfs/usr/local/bin/cargo" "$rootfs/usr/local/bin/rustc"

echo "== runtime base: glibc, libgcc, CA certificates, nonroot user only"
runtime="$work/runtime-rootfs"
rm -rf "$runtime" && mkdir -p "$runtime"/{etc/ssl/certs,tmp,lib/x86_64-linux-gnu,lib64}
chmod 1777 "$runtime/tmp"
for lib in libc.so.6 libm.so.6 libgcc_s.so.1; do cp -L "$rootfs/lib/x86_64-linux-gnu/$lib" "$runtime/lib/x86_64-linux-gnu/"; done
cp -L "$rootfs/lib64/ld-linux-x86-64.so.2" "$runtime/lib64/"
cp -L "$rootfs/etc/ssl/certs/ca-certificates.crt" "$runtime/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$runtime/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$runtime/etc/group"
tar -C "$runtime" -c . | "${podman[@]}" import - localhost/chartroom-runtime-base:local >/dev/null

echo "== podman build $tag"
build_started=$(date +%s)
"${podman[@]}" build --isolation=chroot --network=host --format docker \
  --build-arg BUILD_IMAGE=localhost/chartroom-build-base:local \
  --build-arg RUNTIME_IMAGE=localhost/chartroom-runtime-base:local \
  -t "$tag" "$root" >"$work/podman-build.log" 2>&1 || { tail -40 "$work/podman-build.log"; exit 1; }
echo "   built in $(( $(date +%s) - build_started )) s"
"${podman[@]}" image inspect "$tag" --format 'user={{.Config.User}} ports={{.Config.ExposedPorts}} volumes={{.Config.Volumes}} entrypoint={{.Config.Entrypoint}} cmd={{.Config.Cmd}} env={{.Config.Env}} healthcheck={{.Config.Healthcheck}} size={{.Size}}'

echo "== take the binary out of the image and run it"
ctr="$("${podman[@]}" create "$tag")"
out="$work/extracted" && rm -rf "$out" && mkdir -p "$out/data"
"${podman[@]}" cp "$ctr:/usr/local/bin/chartroom" "$out/chartroom"
"${podman[@]}" rm "$ctr" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$port STORAGE_LOCAL_ROOTDIR="$out/data" "$out/chartroom" serve --listen-host 127.0.0.1 >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
echo "GET /health -> $(curl -s "http://127.0.0.1:$port/health")"
PORT=$port "$out/chartroom" healthcheck
echo "total $(( $(date +%s) - started )) s"
