#!/usr/bin/env bash
# A private RabbitMQ node on loopback for the tests, the demo and the benchmark.
# usage: scripts/broker.sh start|stop|status|ctl ARGS...
# Plain AMQP on 127.0.0.1:${DMS_TEST_AMQP_PORT:-5682}, TLS on :${DMS_TEST_AMQPS_PORT:-5681}
# with a throwaway CA and server certificate made here (tls/ca.pem for clients).
# DMS_BROKER_ACK_TIMEOUT_MS=N enforces a delivery acknowledgement timeout of N ms, checked every second (on 3.10 only
# advanced.config's channel_tick_interval sets how often). `scripts/broker.sh start-ack-timeout` starts the tests'
# private node with a 5 s timeout on :5686 (never the shared node: it would close every slow test's channel).
set -euo pipefail
D=${DMS_BROKER_DIR:-/tmp/dms-broker}
PORT=${DMS_TEST_AMQP_PORT:-5682}
TLS_PORT=${DMS_TEST_AMQPS_PORT:-5681}
NODE=${DMS_BROKER_NODE:-dmstest@localhost}
BIN=/usr/lib/rabbitmq/bin

env_for_node() {
  # The Erlang VM writes its cookie under HOME and dumps where ERL_CRASH_DUMP says: both inside $D.
  mkdir -p "$D"
  export ERL_CRASH_DUMP=$D/erl_crash.dump HOME=$D RABBITMQ_NODENAME=$NODE RABBITMQ_NODE_PORT=$PORT RABBITMQ_DIST_PORT=$((PORT + 20000))
  export RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$D/log RABBITMQ_CONFIG_FILE=$D/rabbitmq
  export RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_PID_FILE=$D/pid
  if [ -f "$D/advanced.config" ]; then export RABBITMQ_ADVANCED_CONFIG_FILE=$D/advanced.config; fi
}

make_tls() {
  mkdir -p "$D/tls"; cd "$D/tls"
  [ -f client.pem ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=dms-test-ca" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile san.ext -out server.pem 2>/dev/null
  # A client certificate for SASL EXTERNAL (user dms-external, from its common name).
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dms-external" -keyout client.key -out client.csr 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out client.pem 2>/dev/null
  chmod 644 ./*.key
}

ctl() { env_for_node; "$BIN/rabbitmqctl" -n "$NODE" "$@"; }

case "${1:-}" in
  start)
    env_for_node
    if ctl status >/dev/null 2>&1; then echo "broker already running on :$PORT"; exit 0; fi
    mkdir -p "$D/mnesia" "$D/log"
    make_tls
    cat > "$D/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
listeners.ssl.default = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $D/tls/ca.pem
ssl_options.certfile = $D/tls/server.pem
ssl_options.keyfile = $D/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
ssl_cert_login_from = common_name
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
loopback_users.guest = false
heartbeat = 10
CONF
    if [ -n "${DMS_BROKER_ACK_TIMEOUT_MS:-}" ]; then
      echo "consumer_timeout = $DMS_BROKER_ACK_TIMEOUT_MS" >> "$D/rabbitmq.conf"
      echo '[{rabbit, [{channel_tick_interval, 1000}]}].' > "$D/advanced.config"
      export RABBITMQ_ADVANCED_CONFIG_FILE=$D/advanced.config
    fi
    echo '[rabbitmq_auth_mechanism_ssl].' > "$D/enabled_plugins"
    setsid "$BIN/rabbitmq-server" > "$D/server.out" 2>&1 < /dev/null &
    for _ in $(seq 1 120); do
      if "$BIN/rabbitmqctl" -n "$NODE" await_startup --timeout 1 >/dev/null 2>&1; then
        echo "broker up: amqp://guest:guest@127.0.0.1:$PORT/ (TLS :$TLS_PORT, CA $D/tls/ca.pem)"; exit 0
      fi
      sleep 0.5
    done
    echo "broker did not start; see $D/log and $D/server.out" >&2; tail -20 "$D/server.out" >&2; exit 1 ;;
  start-ack-timeout|stop-ack-timeout|ctl-ack-timeout)
    sub=${1%-ack-timeout}; shift
    DMS_BROKER_DIR=/tmp/dms-broker-ack DMS_TEST_AMQP_PORT=5686 DMS_TEST_AMQPS_PORT=5685 DMS_BROKER_NODE=dmsack@localhost \
      DMS_BROKER_ACK_TIMEOUT_MS=5000 exec "$0" "$sub" "$@" ;;
  stop)
    ctl stop >/dev/null 2>&1 || true ;;
  status)
    ctl status >/dev/null 2>&1 && echo running || { echo stopped; exit 1; } ;;
  ctl)
    shift; ctl "$@" ;;
  *) echo "usage: $0 start|stop|status|ctl ARGS...|start-ack-timeout|stop-ack-timeout|ctl-ack-timeout ARGS..." >&2; exit 2 ;;
esac
