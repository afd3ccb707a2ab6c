#!/usr/bin/env bash
# Start, restart or stop a private RabbitMQ broker on loopback ports, with all state in
# STATE_DIR/rabbitmq.
#   hack/rabbitmq.sh start   STATE_DIR  -> writes STATE_DIR/rabbitmq.env (AIDETECT_AMQP_URL)
#   hack/rabbitmq.sh restart STATE_DIR  -> the same node again: its name, ports and mnesia dir, so
#                                          durable queues and persistent messages survive; works
#                                          after a kill -9 of the broker too
#   hack/rabbitmq.sh stop    STATE_DIR
# Uses /usr/lib/rabbitmq/bin (not /usr/sbin wrappers, which switch user and cookie), a private
# epmd, and a private HOME so the Erlang cookie is shared by the server and the CLI.
#
# The broker is beam.smp, and its pid is in STATE_DIR/rabbitmq/beam.pid. server.pid is the
# rabbitmq-server shell script, which runs beam as a child and waits for it: a kill -9 of the
# script leaves the broker running on its ports (and registered with epmd), so a new one fails
# with dist_port_already_used. Kill beam.pid to kill the broker.
#
# The ports (AMQP, distribution, epmd) come from lib.sh's free_port, outside the kernel's
# ephemeral range: a killed broker's port can then never be taken as some client's source port,
# whose TIME-WAIT would keep the broker off it for a minute (eaddrinuse).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: rabbitmq.sh start|restart|stop STATE_DIR}
state=${2:?usage: rabbitmq.sh start|restart|stop STATE_DIR}
RB=/usr/lib/rabbitmq/bin
dir=$state/rabbitmq

# The broker's environment, saved so that restart and stop (later processes) address the same node.
write_node_env() {
  cat > "$dir/node.env" <<ENV
export RABBITMQ_NODENAME=aidetect-$RANDOM@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$(free_port) RABBITMQ_DIST_PORT=$(free_port)
export ERL_EPMD_PORT=$(free_port) ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
export RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_PID_FILE=$dir/beam.pid
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export HOME=$dir
ENV
}

rmq() { (. "$dir/node.env"; "$RB/$@"); }
pid_in() { cat "$dir/$1" 2>/dev/null || true; }
beam_alive() { local p; p=$(pid_in beam.pid); [ -n "$p" ] && alive "$p"; }

# launch: epmd (unless it still runs) and the broker, with the saved environment; wait for AMQP.
launch() {
  (
    . "$dir/node.env"
    cd "$dir"
    local epmd_pid; epmd_pid=$(pid_in epmd.pid)
    if [ -z "$epmd_pid" ] || ! alive "$epmd_pid"; then
      log "rabbitmq: starting epmd on 127.0.0.1:$ERL_EPMD_PORT"
      setsid epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 </dev/null >>epmd.out 2>&1 & echo $! > epmd.pid
    fi
    rm -f beam.pid
    log "rabbitmq: starting $RABBITMQ_NODENAME on 127.0.0.1:$RABBITMQ_NODE_PORT (distribution $RABBITMQ_DIST_PORT)"
    setsid "$RB/rabbitmq-server" </dev/null >>server.out 2>&1 & echo $! > server.pid
  )
  # check_port_connectivity fails until the rabbit app serves AMQP (ping succeeds too early).
  wait_for "rabbitmq" 90 "$dir/server.out" "$(pid_in server.pid)" -- \
    rmq rabbitmq-diagnostics -q check_port_connectivity || return 1
  beam_alive || { log "rabbitmq: serving, but $dir/beam.pid names no live beam.smp"; return 1; }
}

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
  launch || { stop; die "rabbitmq did not start"; }
  local port; port=$(. "$dir/node.env"; echo "$RABBITMQ_NODE_PORT")
  echo "export AIDETECT_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/%2F" > "$state/rabbitmq.env"
  log "rabbitmq: ready at amqp://guest:guest@127.0.0.1:$port/%2F (beam.smp pid $(pid_in beam.pid))"
}

restart() {
  [ -f "$dir/node.env" ] && [ -f "$state/rabbitmq.env" ] || die "rabbitmq: no broker was started in $dir"
  local old; old=$(pid_in beam.pid)
  if [ -n "$old" ] && alive "$old"; then
    log "rabbitmq: stopping beam.smp (pid $old) to restart it"
    rmq rabbitmqctl -q stop >/dev/null 2>&1 || true  # a clean stop; terminate sees to the rest
    terminate "$old" 30
  fi
  local wrapper; wrapper=$(pid_in server.pid)
  [ -z "$wrapper" ] || wait_gone "$wrapper" 10 || kill -KILL "$wrapper" 2>/dev/null || true
  launch || die "rabbitmq did not come back on its ports (log: $dir/server.out)"
  log "rabbitmq: back on the same node and ports (beam.smp pid $(pid_in beam.pid))"
}

stop() {
  [ -f "$dir/node.env" ] || { log "rabbitmq: nothing to stop in $dir"; return; }
  log "rabbitmq: stopping"
  local pid beam; pid=$(pid_in server.pid); beam=$(pid_in beam.pid)
  rmq rabbitmqctl -q shutdown >/dev/null 2>&1 || kill -TERM "$beam" "$pid" 2>/dev/null || true
  if [ -n "$pid" ]; then wait_gone "$pid" 10 || true; kill -KILL -- "-$pid" 2>/dev/null || true; fi
  [ -z "$beam" ] || kill -KILL "$beam" 2>/dev/null || true  # a broker whose script was killed
  kill "$(pid_in epmd.pid)" 2>/dev/null || true
  rm -rf "$dir" "$state/rabbitmq.env"
}

case $cmd in start) start ;; restart) restart ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
