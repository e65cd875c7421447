#!/usr/bin/env bash
# Builds dms-agent_<version>_<arch>.deb in .build/deb/ (or $1): the release binary with the Swift standard library
# linked statically, the systemd unit, a commented /etc/triliovault-dms/server.conf (a conffile, generated from
# the settings table), a man page generated from --help (help2man), and maintainer
# scripts that never stop the FUSE processes (the unit's KillMode=process). Depends are read from the binary's
# libraries (dpkg -S) plus what it starts or dlopens: fuse3, libcurl4.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
out=${1:-.build/deb}
# A build directory of its own: swift build does not relink when only link flags change, and scripts/test.sh builds
# it at idle priority while the disruptive phase runs its tests from .build.
static=(swift build -c release --static-swift-stdlib --product dms-agent --scratch-path .build-static)
"${static[@]}" 2>&1 | tail -1
bin="$("${static[@]}" --show-bin-path)/dms-agent"
version=$("$bin" --version | awk '{print $NF}')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -D -m 755 "$bin" "$stage/usr/bin/dms-agent"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/dms-agent"
# Every deploy tool starts the shipped server by this name: the binary is `dms-agent run` under it.
ln -s dms-agent "$stage/usr/bin/trilio-dms-server"
install -D -m 644 docker/dms-agent.service "$stage/lib/systemd/system/dms-agent.service"
# The unprivileged mode (User=nova) as a drop-in to copy beside the unit: docs/operations.md.
install -D -m 644 docker/dms-agent-unprivileged.conf "$stage/usr/share/dms-agent/unprivileged.conf"
install -D -m 644 packaging/debian/dms-agent.tmpfiles "$stage/usr/lib/tmpfiles.d/dms-agent.conf"
install -d -m 755 "$stage/etc/triliovault-dms"
"$bin" settings --format conf > "$stage/etc/triliovault-dms/server.conf"
chmod 644 "$stage/etc/triliovault-dms/server.conf"
# The man page, generated from --help by help2man: the overview, then every command's own --help.
include="$stage/commands.h2m"
for command in $("$bin" --help | awk '/^SUBCOMMANDS:/ {on=1; next} on && NF {print $1}' | grep -v '^help$'); do
    printf '[COMMAND %s]\n.nf\n' "$(echo "$command" | tr a-z A-Z)"
    "$bin" "$command" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
    printf '.fi\n\n'
done > "$include"
install -d -m 755 "$stage/usr/share/man/man8"
help2man --no-info --section 8 --name "mounts backup targets on demand from RabbitMQ jobs" --include "$include" \
    --version-string "$version" "$bin" | gzip -9n > "$stage/usr/share/man/man8/dms-agent.8.gz"
rm "$include"
[ -f "$stage/usr/share/man/man8/dms-agent.8.gz" ] || { echo "generate-manual wrote no dms-agent.8"; exit 1; }
chmod 644 "$stage"/usr/share/man/man8/*.gz
ln -s dms-agent.8.gz "$stage/usr/share/man/man8/trilio-dms-server.8.gz"
install -D -m 644 packaging/debian/copyright "$stage/usr/share/doc/dms-agent/copyright"
install -m 644 README.md "$stage/usr/share/doc/dms-agent/README.md"
install -D -m 644 -t "$stage/usr/share/doc/dms-agent/docs" docs/*.md
cat > "$stage/changelog" <<CHANGELOG
dms-agent ($version) stable; urgency=medium

  * Release $version: see /usr/share/doc/dms-agent/README.md.

 -- dms-agent developers <dms-agent@trilio.io>  $(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}")
CHANGELOG
gzip -9n -c "$stage/changelog" > "$stage/usr/share/doc/dms-agent/changelog.gz"
rm "$stage/changelog"
find "$stage/usr/share/doc/dms-agent" -type f -exec chmod 644 {} +
install -d -m 755 "$stage/DEBIAN"
for script in postinst prerm postrm; do install -m 755 "packaging/debian/$script" "$stage/DEBIAN/$script"; done
echo /etc/triliovault-dms/server.conf > "$stage/DEBIAN/conffiles"
# The packages of the libraries the binary links (dpkg knows /lib or /usr/lib, whichever the package ships).
linked=$(for lib in $(ldd "$bin" | awk '/=>/ {print $3}'); do
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || { echo "not from a package: $lib" >&2; exit 1; }
done | cut -d: -f1 | sort -u | grep -v '^libc6$' | paste -sd, | sed 's/,/, /g')
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: dms-agent
Version: $version
Architecture: $arch
Maintainer: dms-agent developers <dms-agent@trilio.io>
Installed-Size: $size
Depends: libc6, ${linked}, libcurl4, fuse3, init-system-helpers (>= 1.52)
Recommends: s3fs
Section: admin
Priority: optional
Homepage: https://github.com/trilio/dms-agent
Description: mounts backup targets on demand from RabbitMQ jobs
 The per-node agent of the backup system: it consumes dms.<node> on RabbitMQ,
 mounts S3 targets through one s3vaultfuse FUSE process per target (tracked in
 PID files, adopted after a restart) and NFS exports, and replies to each
 request. A drop-in replacement for the Python Trilio DMS server.
CONTROL
mkdir -p "$out"
deb="$out/dms-agent_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
