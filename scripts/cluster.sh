#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on loopback, for the cluster tests and `dms-bench fleet`.
# usage: scripts/cluster.sh start|stop|status|urls
#        scripts/cluster.sh stop-node N | start-node N | pause-node N | resume-node N | ctl N ARGS...
# Nodes c1..c3@localhost, AMQP on port ${DMS_CLUSTER_PORT:-5691}+N-1 (every interface: the partition test reaches
# them from a network namespace over a veth pair), one Erlang cookie (shared HOME).
set -euo pipefail
D=${DMS_CLUSTER_DIR:-/tmp/dms-cluster}
BASE=${DMS_CLUSTER_PORT:-5691}
BIN=/usr/lib/rabbitmq/bin

port() { echo $((BASE + $1 - 1)); }

env_for() {
  local n=$1
  mkdir -p "$D/c$n/mnesia" "$D/c$n/log"
  # One HOME for all three: the same .erlang.cookie; crash dumps stay inside $D.
  export HOME=$D ERL_CRASH_DUMP=$D/c$n/erl_crash.dump
  export RABBITMQ_NODENAME=c$n@localhost RABBITMQ_NODE_PORT=$(port "$n") RABBITMQ_DIST_PORT=$(($(port "$n") + 20000))
  export RABBITMQ_MNESIA_BASE=$D/c$n/mnesia RABBITMQ_LOG_BASE=$D/c$n/log RABBITMQ_CONFIG_FILE=$D/c$n/rabbitmq
  export RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_PID_FILE=$D/c$n/pid
}

ctl() { local n=$1; shift; ( env_for "$n"; "$BIN/rabbitmqctl" -n "c$n@localhost" "$@" ); }

start_node() {
  local n=$1
  ( env_for "$n"
    cat > "$D/c$n/rabbitmq.conf" <<CONF
listeners.tcp.default = $(port "$n")
loopback_users.guest = false
heartbeat = 10
cluster_partition_handling = pause_minority
CONF
    setsid "$BIN/rabbitmq-server" > "$D/c$n/server.out" 2>&1 < /dev/null & )
}

await_node() {
  local n=$1
  for _ in $(seq 1 120); do
    ctl "$n" await_startup --timeout 1 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "node c$n did not start; see $D/c$n/server.out" >&2; tail -20 "$D/c$n/server.out" >&2; return 1
}

beam_pid() { cat "$D/c$1/pid" 2>/dev/null; }

case "${1:-}" in
  start)
    mkdir -p "$D"
    if ctl 1 status >/dev/null 2>&1 && ctl 3 status >/dev/null 2>&1; then echo "cluster already running: $("$0" urls)"; exit 0; fi
    echo '[].' > "$D/enabled_plugins"
    for n in 1 2 3; do start_node "$n"; done
    for n in 1 2 3; do await_node "$n"; done
    for n in 2 3; do
      status=$(ctl "$n" cluster_status 2>/dev/null || true)  # captured: grep -q's early exit would SIGPIPE ctl
      if ! grep -q "c1@localhost" <<<"$status"; then
        { ctl "$n" stop_app && ctl "$n" reset && ctl "$n" join_cluster c1@localhost && ctl "$n" start_app; } >/dev/null 2>&1
      fi
    done
    echo "cluster up: $("$0" urls)" ;;
  stop)
    for n in 3 2 1; do ctl "$n" stop >/dev/null 2>&1 || true; done ;;
  status)
    ctl 1 cluster_status ;;
  urls)
    echo "amqp://guest:guest@127.0.0.1:$(port 1),127.0.0.1:$(port 2),127.0.0.1:$(port 3)/" ;;
  stop-node) ctl "$2" stop_app >/dev/null ;;
  start-node) ctl "$2" start_app >/dev/null ;;
  pause-node) kill -STOP "$(beam_pid "$2")" ;;
  resume-node) kill -CONT "$(beam_pid "$2")" ;;
  ctl) n=$2; shift 2; ctl "$n" "$@" ;;
  *) echo "usage: $0 start|stop|status|urls|stop-node N|start-node N|pause-node N|resume-node N|ctl N ARGS..." >&2; exit 2 ;;
esac
