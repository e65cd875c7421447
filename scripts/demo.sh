#!/usr/bin/env bash
# The quick start: the agent's main job end to end on this machine.
# A private RabbitMQ, a local S3 server with a bucket, a Barbican-compatible secret endpoint, the agent
# (with scripts/s3vaultfuse-s3fs as its s3vaultfuse), then a mount job, a read of the bucket through the
# FUSE mount, an unmount job, and a check that no process, PID file or mount is left.
# DMS_DEMO_ROOTFS=<dir>: the agent runs chrooted in that root file system (scripts/runtime-image.sh builds it from
# the Dockerfile's package list, with the binary and scripts/s3vaultfuse-s3fs copied in); the requests, the
# checks and the services stay on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
scripts/install-deps.sh
D=${DMS_DEMO_DIR:-/tmp/dms-demo}
S3=${DMS_TEST_S3_ENDPOINT:-http://127.0.0.1:5690}
AMQP=${DMS_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5682/}
NODE=demo-node
rm -rf "$D"; mkdir -p "$D"
scripts/broker.sh start
scripts/s3-server.sh start
# DMS_DEMO_BIN: a dms-agent already built (scripts/runtime-image.sh passes its static build).
BIN=${DMS_DEMO_BIN:-}
if [ -z "$BIN" ]; then
  swift build -c release --product dms-agent 2>&1 | tail -1
  BIN=$(swift build -c release --show-bin-path)/dms-agent
fi
ROOTFS=${DMS_DEMO_ROOTFS:-}
if [ -n "$ROOTFS" ]; then
  A=/var/lib/dms-demo  # the agent's directories as it sees them; the host sees them below $ROOTFS
  rm -rf "$ROOTFS$A"; mkdir -p "$ROOTFS$A"
  AGENT=(chroot "$ROOTFS" /usr/bin/dms-agent)
  FUSE=/usr/bin/s3vaultfuse-s3fs
else
  A=$D
  AGENT=("$BIN")
  FUSE="$PWD/scripts/s3vaultfuse-s3fs"
fi

python3 - "$S3" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="AKIADEMO", aws_secret_access_key="demo-secret-key", region_name="us-east-1")
try: s3.create_bucket(Bucket="demo-backups")
except Exception: pass
s3.put_object(Bucket="demo-backups", Key="hello.txt", Body=b"hello from the demo bucket\n")
PY
cat > "$D/secret.json" <<JSON
{"aws_access_key_id": "AKIADEMO", "aws_secret_access_key": "demo-secret-key", "bucket": "demo-backups",
 "region": "us-east-1", "endpoint_url": "$S3", "ssl_verify": "false"}
JSON
echo "demo-keystone-token" > "$D/token"
python3 scripts/barbican-secrets.py --port 9399 --token-file "$D/token" --secret bt-demo="$D/secret.json" > "$D/barbican.log" 2>&1 &
BARBICAN=$!
"${AGENT[@]}" run --rabbitmq-url "$AMQP" --node-id "$NODE" --pid-dir "$A/pid" --mount-base "$A/mnt" --log-dir "$A/log" \
  --s3vaultfuse-bin "$FUSE" --heartbeat-interval 0 > "$D/agent.log" 2>&1 &
AGENT_PID=$!
trap 'kill $AGENT_PID $BARBICAN 2>/dev/null || true' EXIT
sleep 1
MNT="$A/mnt/ZGVtby1iYWNrdXBz"  # the path in the request, as the agent sees it
HOST_MNT="$ROOTFS$MNT"
echo "== mount job"
"$BIN" submit mount --rabbitmq-url "$AMQP" --node "$NODE" --target bt-demo --path "$MNT" \
  --secret-ref http://127.0.0.1:9399/v1/secrets/bt-demo --token-file "$D/token" --timeout 60
echo "== read through the FUSE mount"
grep " $HOST_MNT " /proc/self/mountinfo | awk '{print "mounted:", $5, $(NF-2)}'
cat "$HOST_MNT/hello.txt"
"${AGENT[@]}" status --pid-dir "$A/pid" --mount-base "$A/mnt"
echo "== unmount job"
"$BIN" submit unmount --rabbitmq-url "$AMQP" --node "$NODE" --target bt-demo --path "$MNT" --timeout 60
if grep -q " $HOST_MNT " /proc/self/mountinfo; then echo "FAIL: still mounted"; exit 1; fi
if ls "$ROOTFS$A/pid"/*.pid >/dev/null 2>&1; then echo "FAIL: PID file left"; exit 1; fi
if pgrep -f "s3fs demo-backups" >/dev/null; then echo "FAIL: s3fs still running"; exit 1; fi
kill -TERM $AGENT_PID; wait $AGENT_PID || true
echo "== demo passed: mounted, read, unmounted; no process, PID file or mount left (logs in $D)"
