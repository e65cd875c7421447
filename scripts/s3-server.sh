#!/usr/bin/env bash
# A local S3 API server (moto) on loopback for the demo and the end-to-end tests.
# usage: scripts/s3-server.sh start|stop|status
set -euo pipefail
D=${DMS_S3_DIR:-/tmp/dms-s3}
PORT=${DMS_TEST_S3_PORT:-5690}
case "${1:-}" in
  start)
    if curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then echo "S3 server already up on :$PORT"; exit 0; fi
    mkdir -p "$D"
    command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
    setsid moto_server -H 127.0.0.1 -p "$PORT" > "$D/server.log" 2>&1 < /dev/null &
    echo $! > "$D/pid"
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && { echo "S3 server up: http://127.0.0.1:$PORT"; exit 0; }
      sleep 0.2
    done
    echo "S3 server did not start; see $D/server.log" >&2; exit 1 ;;
  stop)
    [ -f "$D/pid" ] && kill "$(cat "$D/pid")" 2>/dev/null || true; rm -f "$D/pid" ;;
  status)
    curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && echo running || { echo stopped; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
