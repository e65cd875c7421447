#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage complete without a container engine (none runs here): builds its root
# file system with mmdebstrap from the same package list (docker/runtime-packages.txt), copies the release binary
# (static Swift standard library, as the Dockerfile builds it) and scripts/s3vaultfuse-s3fs in, then under chroot
# (with /proc and /dev bound in, the broker, S3 server and Barbican stand-in on the host's loopback):
# `dms-agent --version`, `ldd` with no missing library, and scripts/demo.sh with the agent inside the image —
# a real mount, read and unmount through s3fs (libcurl, dlopen'ed for Barbican, is exercised too).
# Not exercised: Docker itself (layers, VOLUME, ENTRYPOINT), the debian:bookworm-slim base's exact contents
# (mmdebstrap's apt variant is close but not identical) and the container's mount namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
ROOT=${DMS_ROOTFS:-/tmp/dms-rootfs}
packages=$(grep -v '^#' docker/runtime-packages.txt | xargs | tr ' ' ',')
command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
# The host's own Debian sources (CI reaches Debian's registry and nothing else).
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=http://deb.debian.org/debian
if [ "$(cat "$ROOT/.dms-packages" 2>/dev/null)" != "$packages" ]; then
  rm -rf "$ROOT"
  mmdebstrap --quiet --variant=apt --include="$packages" bookworm "$ROOT" "$sources"
  echo user_allow_other >> "$ROOT/etc/fuse.conf"
  echo "$packages" > "$ROOT/.dms-packages"
fi
# As the Dockerfile builds it (and scripts/package-deb.sh, sharing this build directory).
static=(swift build -c release --static-swift-stdlib --product dms-agent --scratch-path .build-static)
"${static[@]}" 2>&1 | tail -1
# DMS_BUILD_ONLY=1: the root and the binary only (scripts/test.sh prepares them ahead).
[ "${DMS_BUILD_ONLY:-}" != 1 ] || exit 0
install -m 755 "$("${static[@]}" --show-bin-path)/dms-agent" "$ROOT/usr/bin/dms-agent"
install -m 755 scripts/s3vaultfuse-s3fs "$ROOT/usr/bin/s3vaultfuse-s3fs"
mount --bind /proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
trap 'umount -R "$ROOT/dev" 2>/dev/null || true; umount "$ROOT/proc" 2>/dev/null || true' EXIT
echo "== in the image: $(chroot "$ROOT" /usr/bin/dms-agent --version)"
libraries=$(chroot "$ROOT" ldd /usr/bin/dms-agent)
echo "$libraries" | sed 's/^/   /'
if grep -q "not found" <<<"$libraries"; then echo "FAIL: a library the binary needs is missing from the image"; exit 1; fi
DMS_DEMO_ROOTFS="$ROOT" DMS_DEMO_BIN="$ROOT/usr/bin/dms-agent" scripts/demo.sh
echo "== runtime image proven: packages from docker/runtime-packages.txt, binary runs, mount and unmount through s3fs work"
