#!/usr/bin/env bash
# The hardened unit proven under a real systemd (issue 28). Boots a Debian root with systemd in it
# (systemd-nspawn --boot, sharing this machine's network, /dev/fuse bound in) with the built .deb installed,
# a fusepy s3vaultfuse (scripts/fake-s3vaultfuse.py at the default s3vaultfuse_bin) and bindfs, then:
#   - dms-agent.service starts against the test broker over TLS;
#   - a mount job in the original client's wire format, its secret fetched from a Barbican stand-in over HTTPS:
#     the fusepy mount is seen in the container's root mount namespace and serves a file;
#   - systemctl restart with that target mounted: the fuse keeps its PID and mount and is adopted; a second target
#     mounts through bindfs; both unmount through jobs;
#   - a drop-in that takes @mount out of the seccomp filter: the refused mount's job error and doctor name
#     SystemCallFilter=;
#   - systemd-analyze security: the shipped unit at most 4.5, and the unprivileged drop-in's score printed; with
#     that drop-in (User=nova) a bindfs target mounts through the setuid fusermount3 and unmounts;
#   - log_file rotates (4 KiB) under the unit; systemctl stop leaves the unit inactive, not failed.
# Afterwards the container, its mounts and its processes are gone. As root, with scripts/broker.sh started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
BASE=${DMS_SYSTEMD_BASE:-/var/tmp/dms-systemd-base}  # the packages alone, kept between runs
ROOT=/var/tmp/dms-systemd-root                        # this run's copy, removed afterwards
D=/tmp/dms-systemd-check
BROKER_DIR=${DMS_BROKER_DIR:-/tmp/dms-broker}
AMQP=${DMS_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5682/}
TLS_PORT=${DMS_TEST_AMQPS_PORT:-5681}
NODE=systemd-check
MAX_SCORE=4.5
for tool in systemd-nspawn mmdebstrap; do
  command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container mmdebstrap >/dev/null
done

NSPAWN=""
BARBICAN=""
cleanup() (  # a subshell: its set +e stays inside
  set +e
  [ -n "$BARBICAN" ] && kill "$BARBICAN" 2>/dev/null
  if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
    kill -TERM "$NSPAWN"  # nspawn asks the container's systemd to power off
    for _ in $(seq 1 60); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$NSPAWN" 2>/dev/null
    wait "$NSPAWN" 2>/dev/null
  fi
  # Nothing may outlive the container: a process whose root is the container's, a mount below it.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  grep -o " $ROOT[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$ROOT"
)
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -n "$NSPAWN" ] && in_container journalctl -u dms-agent --no-pager -n 40 2>/dev/null; exit 1; }

deb=$(scripts/package-deb.sh | tail -1)
# The .deb's own dependencies, then systemd and the two fuses.
depends=$(dpkg-deb -f "$deb" Depends | sed 's/([^)]*)//g; s/|[^,]*//g; s/ //g')
packages="systemd,systemd-sysv,dbus,fuse3,bindfs,python3-fusepy,ca-certificates,curl,$depends"
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=http://deb.debian.org/debian
if [ "$(cat "$BASE/.dms-packages" 2>/dev/null)" != "$packages" ]; then
  rm -rf --one-file-system "$BASE"
  mmdebstrap --quiet --variant=apt --include="$packages" bookworm "$BASE" "$sources"
  echo "$packages" > "$BASE/.dms-packages"
fi
# DMS_BUILD_ONLY=1: the package and the base root only (scripts/test.sh prepares them ahead).
[ "${DMS_BUILD_ONLY:-}" != 1 ] || exit 0
cleanup
rm -rf "$D" && mkdir -p "$D"
cp -a "$BASE" "$ROOT"
cp "$deb" "$ROOT/tmp/dms-agent.deb"
chroot "$ROOT" dpkg -i /tmp/dms-agent.deb > "$D/dpkg.log" 2>&1 || { cat "$D/dpkg.log"; exit 1; }
echo "127.0.0.1 localhost" > "$ROOT/etc/hosts"
chroot "$ROOT" useradd --system --no-create-home --shell /usr/sbin/nologin nova
echo "$NODE" > "$ROOT/etc/hostname"
echo user_allow_other >> "$ROOT/etc/fuse.conf"
install -m 755 scripts/fake-s3vaultfuse.py "$ROOT/usr/bin/s3vaultfuse.py"
install -m 755 scripts/fake-s3vaultfuse "$ROOT/usr/local/bin/fake-s3vaultfuse"
install -d -m 755 "$ROOT/var/lib/trilio/triliovault-mounts" "$ROOT/etc/dms-check"
install -m 644 "$BROKER_DIR/tls/ca.pem" "$ROOT/etc/dms-check/ca.pem"

# Barbican over HTTPS on the host's loopback, with the broker's test CA's server certificate (CN localhost).
echo "systemd-check-token" > "$D/token"
cat > "$D/secret.json" <<'JSON'
{"aws_access_key_id": "AKIASYSTEMD", "aws_secret_access_key": "systemd-check-secret", "bucket": "systemd-check"}
JSON
python3 scripts/barbican-secrets.py --port 0 --port-file "$D/barbican.port" --token-file "$D/token" \
  --secret bt-sd="$D/secret.json" --secret bt-sd2="$D/secret.json" --secret bt-sd3="$D/secret.json" \
  --secret bt-sd4="$D/secret.json" \
  --tls-cert "$BROKER_DIR/tls/server.pem" --tls-key "$BROKER_DIR/tls/server.key" > "$D/barbican.log" 2>&1 &
BARBICAN=$!
for _ in $(seq 1 100); do [ -s "$D/barbican.port" ] && break; sleep 0.1; done
BARBICAN_URL="https://localhost:$(cat "$D/barbican.port")"
cat > "$ROOT/etc/triliovault-dms/server.conf" <<CONF
[DEFAULT]
transport_url = rabbit://guest:guest@localhost:$TLS_PORT/?ssl=1&ssl_ca_file=/etc/dms-check/ca.pem
node_id = $NODE
barbican_url = $BARBICAN_URL
barbican_ca_bundle = /etc/dms-check/ca.pem
metrics_listen = 127.0.0.1:0
log_file = /var/log/dms/dms-agent.log
log_max_bytes = 4096
log_backup_count = 3
heartbeat_interval = 0
CONF

echo "== boot: systemd-nspawn --boot"
# The container's own /dev/fuse node, 0666 as udev makes it on a node (this machine's is root's only): the
# unprivileged mode needs it, and the host's node keeps its mode.
mknod -m 0666 "$D/fuse" c 10 229
systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit --bind="$D/fuse:/dev/fuse" --console=pipe -M dms-check \
  > "$D/console.log" 2>&1 < /dev/null &
NSPAWN=$!
LEADER=""
for _ in $(seq 1 100); do
  LEADER=$(pgrep -P "$NSPAWN" -x systemd || true)
  [ -n "$LEADER" ] && break
  sleep 0.1
done
[ -n "$LEADER" ] || fail "the container's systemd did not start (see $D/console.log)"
in_container() { nsenter -t "$LEADER" -a "$@"; }
state=""
for _ in $(seq 1 120); do
  state=$(in_container systemctl is-system-running 2>/dev/null || true)
  case "$state" in running | degraded) break ;; esac
  sleep 0.5
done
echo "is-system-running: $state"
[ "$state" = running ] || { in_container systemctl --failed --no-pager; fail "the container's systemd is $state"; }

echo "== dms-agent.service"
in_container systemctl start dms-agent
ready() {
  for _ in $(seq 1 100); do
    address=$(in_container cat /run/dms/s3/.dms-agent.health 2>/dev/null || true)
    if [ -n "$address" ] && curl -fsS "http://$address/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}
ready || fail "the agent did not become ready"
echo "active and ready, metrics at $(in_container cat /run/dms/s3/.dms-agent.health)"
MNT=/var/lib/trilio/triliovault-mounts
request() {  # action target path: the original client's body, through scripts/dms_client.py (pika)
  printf '{"action": "%s", "host": "%s", "jobid": 4711, "context": {"user_id": "u1"}, "keystone_token": "systemd-check-token", "job": {"jobid": 4711}, "backup_target": {"id": "%s", "type": "s3", "status": "available", "deleted": false, "filesystem_export": null, "nfs_mount_opts": null, "filesystem_export_mount_path": "%s", "secret_ref": "%s/v1/secrets/%s"}}\n' \
    "$1" "$NODE" "$2" "$3" "$BARBICAN_URL" "$2" > "$D/request.json"
  python3 scripts/dms_client.py --url "$AMQP" --host "$NODE" --style original --timeout 60 "$D/request.json" || true
}
status_of() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("reply", {}).get("status"))'; }
fuse_pid() { in_container cat "/run/dms/s3/$1.pid"; }
mounted() { in_container findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null || true; }

echo "== mount through the Python fuse, secret over HTTPS"
reply=$(request mount bt-sd "$MNT/c2QtMQ")
echo "$reply"
[ "$(status_of <<<"$reply")" = success ] || fail "mount job"
echo "in the container's root namespace: $(mounted "$MNT/c2QtMQ")"
[ -n "$(mounted "$MNT/c2QtMQ")" ] || fail "the mount is not in the container's root namespace"
in_container test -f "$MNT/c2QtMQ/copyright" || fail "the fusepy mount serves no file"
grep -q "GET /v1/secrets/bt-sd/payload" "$D/barbican.log" || fail "no HTTPS fetch of the secret"
pid=$(fuse_pid bt-sd)
echo "fusepy fuse pid $pid: $(in_container cat "/proc/$pid/cmdline" | tr '\0' ' ')"

echo "== systemctl restart with the target mounted; the next targets through bindfs"
install -d "$ROOT/etc/systemd/system/dms-agent.service.d"
printf '[Service]\nEnvironment=DMS_S3VAULTFUSE_BIN=/usr/local/bin/fake-s3vaultfuse\n' > "$D/bindfs.conf"
cp "$D/bindfs.conf" "$ROOT/etc/systemd/system/dms-agent.service.d/"
in_container systemctl daemon-reload
in_container systemctl restart dms-agent
ready || fail "the agent did not become ready after the restart"
[ "$(fuse_pid bt-sd)" = "$pid" ] && in_container test -d "/proc/$pid" || fail "the fuse did not survive the restart"
[ -n "$(mounted "$MNT/c2QtMQ")" ] || fail "the mount did not survive the restart"
in_container sh -c 'grep -q adopted /var/log/dms/dms-agent.log*' || fail "no adoption logged"
echo "fuse $pid kept its mount and was adopted"
reply=$(request mount bt-sd2 "$MNT/nested/c2QtMg")
[ "$(status_of <<<"$reply")" = success ] || fail "bindfs mount job: $reply"
echo "bindfs mount: $(mounted "$MNT/nested/c2QtMg")"
# The unit's UMask=0027 does not narrow the directories the agent makes on the way: nova traverses them.
mode=$(in_container stat -c %a "$MNT/nested")
echo "bindfs mount at $MNT/nested/c2QtMg; $MNT/nested made $mode under UMask=0027"
[ "$mode" = 755 ] || fail "the agent made $MNT/nested $mode"
for target in "bt-sd c2QtMQ" "bt-sd2 nested/c2QtMg"; do
  set -- $target
  reply=$(request unmount "$1" "$MNT/$2")
  [ "$(status_of <<<"$reply")" = success ] || fail "unmount job $1: $reply"
  [ -z "$(mounted "$MNT/$2")" ] || fail "$MNT/$2 still mounted"
  in_container test ! -e "/run/dms/s3/$1.pid" || fail "PID file of $1 left"
done
! in_container test -d "/proc/$pid" || fail "the adopted fuse $pid still runs after its unmount"
echo "both unmounted; no PID file or fuse left"

echo "== a seccomp filter without @mount: the job and doctor name the directive"
printf '[Service]\nSystemCallFilter=~@mount\n' > "$ROOT/etc/systemd/system/dms-agent.service.d/no-mount.conf"
in_container systemctl daemon-reload
in_container systemctl restart dms-agent
ready || fail "the agent did not become ready under the narrower filter"
reply=$(request mount bt-sd3 "$MNT/c2QtMw")
echo "$reply"
[ "$(status_of <<<"$reply")" = error ] && grep -q "SystemCallFilter=" <<<"$reply" || fail "the refused mount does not name SystemCallFilter="
doctor=$(in_container dms-agent doctor --config-file /etc/triliovault-dms/server.conf 2>&1 || true)
grep "sandbox" <<<"$doctor" || true
grep -q "sandbox.*SystemCallFilter=" <<<"$doctor" || fail "doctor does not name SystemCallFilter="
rm "$ROOT/etc/systemd/system/dms-agent.service.d/no-mount.conf"
in_container systemctl daemon-reload

echo "== systemd-analyze security"
rm "$ROOT/etc/systemd/system/dms-agent.service.d/bindfs.conf"
in_container systemctl daemon-reload
score=$(in_container systemd-analyze security dms-agent.service --no-pager | awk '/Overall exposure level/ {print $(NF-2)}')
echo "dms-agent.service: $score (at most $MAX_SCORE)"
awk -v s="$score" -v m="$MAX_SCORE" 'BEGIN { exit !(s != "" && s <= m) }' || fail "exposure $score above $MAX_SCORE"
cp "$ROOT/usr/share/dms-agent/unprivileged.conf" "$ROOT/etc/systemd/system/dms-agent.service.d/"
in_container systemctl daemon-reload
unprivileged=$(in_container systemd-analyze security dms-agent.service --no-pager | awk '/Overall exposure level/ {print $(NF-2)}')
echo "with the unprivileged drop-in (User=nova): $unprivileged"

echo "== the unprivileged drop-in: a bindfs mount and unmount as nova, through the setuid fusermount3"
in_container chown nova:nova "$MNT"
cp "$D/bindfs.conf" "$ROOT/etc/systemd/system/dms-agent.service.d/"
in_container systemctl daemon-reload
in_container systemctl restart dms-agent
ready || fail "the agent did not become ready as nova"
reply=$(request mount bt-sd4 "$MNT/c2QtNA")
[ "$(status_of <<<"$reply")" = success ] || fail "mount job as nova: $reply"
owner=$(in_container stat -c %U "/proc/$(fuse_pid bt-sd4)")
echo "mounted $(mounted "$MNT/c2QtNA") by a fuse of $owner, agent $(in_container systemctl show dms-agent -p User --value)"
[ "$owner" = nova ] || fail "the fuse runs as $owner"
reply=$(request unmount bt-sd4 "$MNT/c2QtNA")
[ "$(status_of <<<"$reply")" = success ] && [ -z "$(mounted "$MNT/c2QtNA")" ] || fail "unmount job as nova: $reply"
rm "$ROOT/etc/systemd/system/dms-agent.service.d/"{unprivileged,bindfs}.conf
chown root:root "$ROOT$MNT"
in_container systemctl daemon-reload

in_container test -f /var/log/dms/dms-agent.log.1 || fail "log_file was never rotated"
echo "log_file rotated under the unit: $(in_container sh -c 'ls /var/log/dms/dms-agent.log*' | xargs)"

echo "== systemctl stop"
in_container systemctl restart dms-agent
ready || fail "the agent did not become ready"
in_container systemctl stop dms-agent
result="$(in_container systemctl show dms-agent -p ActiveState --value) $(in_container systemctl show dms-agent -p Result --value)"
echo "after stop: $result"
[ "$result" = "inactive success" ] || fail "the unit is $result after stop"

echo "== power off"
in_container systemctl poweroff --no-block
for _ in $(seq 1 120); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.5; done
! kill -0 "$NSPAWN" 2>/dev/null || fail "the container did not power off"
NSPAWN=""
cleanup
left=$(for p in /proc/[0-9]*; do [ "$(readlink "$p/root" 2>/dev/null)" != "$ROOT" ] || echo "${p#/proc/}"; done)
[ -z "$left" ] || fail "processes left: $left"
[ ! -e "$ROOT" ] || fail "$ROOT left"
echo "== the hardened unit works under systemd: exposure $score (unprivileged drop-in $unprivileged); nothing left"
