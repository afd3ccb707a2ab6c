#!/usr/bin/env bash
# Start or stop a private RabbitMQ broker on free loopback ports, with all state in STATE_DIR/rabbitmq.
#   hack/rabbitmq.sh start STATE_DIR   -> writes STATE_DIR/rabbitmq.env (AIDETECT_AMQP_URL)
#   hack/rabbitmq.sh stop  STATE_DIR
# Uses /usr/lib/rabbitmq/bin (not /usr/sbin wrappers, which switch user and cookie), a private
# epmd, and a private HOME so the Erlang cookie is shared by the server and the CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: rabbitmq.sh start|stop STATE_DIR}; state=${2:?usage: rabbitmq.sh start|stop STATE_DIR}
RB=/usr/lib/rabbitmq/bin
dir=$state/rabbitmq

# The broker's environment, saved so that stop (a later process) addresses the same node.
write_node_env() {
  cat > "$dir/node.env" <<ENV
export RABBITMQ_NODENAME=aidetect-$RANDOM@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$(free_port) RABBITMQ_DIST_PORT=$(free_port)
export ERL_EPMD_PORT=$(free_port) ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
export RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export HOME=$dir
ENV
}

rmq() { (. "$dir/node.env"; "$RB/$@"); }

start() {
  [ -x "$RB/rabbitmq-server" ] || die "RabbitMQ not found (install the Debian package 'rabbitmq-server': hack/install-deps.sh)"
  if [ -f "$state/rabbitmq.env" ] && rmq rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then
    log "rabbitmq already running in $dir"; return
  fi
  mkdir -p "$dir"; write_node_env
  echo '[].' > "$dir/enabled_plugins"
  # consumer_timeout is set explicitly (30 min, the 4.x default too) rather than relying on defaults.
  printf 'consumer_timeout = %s\n' "${AIDETECT_RMQ_CONSUMER_TIMEOUT_MS:-1800000}" > "$dir/rabbitmq.conf"
  printf '[{rabbit, [{channel_tick_interval, %s}]}].\n' "${AIDETECT_RMQ_TICK_MS:-60000}" > "$dir/advanced.config"
  (
    . "$dir/node.env"
    log "rabbitmq: starting epmd on 127.0.0.1:$ERL_EPMD_PORT and broker on 127.0.0.1:$RABBITMQ_NODE_PORT"
    cd "$dir"
    setsid epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 </dev/null >epmd.out 2>&1 & echo $! > epmd.pid
    setsid "$RB/rabbitmq-server" </dev/null >server.out 2>&1 & echo $! > server.pid
  )
  # check_port_connectivity fails until the rabbit app serves AMQP (ping succeeds too early).
  wait_for "rabbitmq" 90 "$dir/server.out" "$(cat "$dir/server.pid")" -- \
    rmq rabbitmq-diagnostics -q check_port_connectivity || { stop; die "rabbitmq did not start"; }
  local port; port=$(. "$dir/node.env"; echo "$RABBITMQ_NODE_PORT")
  echo "export AIDETECT_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/%2F" > "$state/rabbitmq.env"
  log "rabbitmq: ready at amqp://guest:guest@127.0.0.1:$port/%2F"
}

stop() {
  [ -f "$dir/node.env" ] || { log "rabbitmq: nothing to stop in $dir"; return; }
  log "rabbitmq: stopping"
  rmq rabbitmqctl -q shutdown >/dev/null 2>&1 || kill -TERM "$(cat "$dir/server.pid" 2>/dev/null)" 2>/dev/null || true
  local pid; pid=$(cat "$dir/server.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done; kill -KILL -- "-$pid" 2>/dev/null || true; fi
  kill "$(cat "$dir/epmd.pid" 2>/dev/null)" 2>/dev/null || true
  rm -rf "$dir" "$state/rabbitmq.env"
}

case $cmd in start) start ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
