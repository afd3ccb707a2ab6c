#!/usr/bin/env bash
# Start, restart or stop aidetect's own processes (operator, one worker, API) for `make up`.
#   hack/components.sh start   STATE_DIR        (needs STATE_DIR/env.sh from hack/up.sh)
#   hack/components.sh restart STATE_DIR NAME   NAME (operator|worker|api) again, with the same
#                                               command, environment and ports; after a kill -9 too
#   hack/components.sh stop    STATE_DIR
# Logs: STATE_DIR/logs/{operator,worker,api}.log (a restart appends); pids: STATE_DIR/NAME.pid;
# the API token: STATE_DIR/api-token. The API listens on AIDETECT_API_PORT (8000), the operator's
# probes on AIDETECT_OPERATOR_LIVENESS_PORT (8080) and _READINESS_PORT (8081, with /metrics), the
# worker's on AIDETECT_WORKER_HEALTH_PORT (8082, with /metrics), all as the first start found
# them: they are kept in STATE_DIR/components.env for restarts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage="usage: components.sh start|stop STATE_DIR | restart STATE_DIR operator|worker|api"
cmd=${1:?$usage}; state=${2:?$usage}
COMPONENTS=(operator worker api)
declare -A READY_SECONDS=([operator]=120 [worker]=300 [api]=60)

running() { [ -f "$state/$1.pid" ] && alive "$(cat "$state/$1.pid")"; }

# environment: what every component runs with, the same on every (re)start.
environment() {
  . "$state/env.sh"
  if [ ! -f "$state/components.env" ]; then
    [ -f "$state/api-token" ] || random_hex 24 > "$state/api-token"
    {
      echo "export AIDETECT_API_PORT=${AIDETECT_API_PORT:-8000} AIDETECT_LOG_FORMAT=${AIDETECT_LOG_FORMAT:-text}"
      for port in AIDETECT_OPERATOR_LIVENESS_PORT AIDETECT_OPERATOR_READINESS_PORT AIDETECT_WORKER_HEALTH_PORT; do
        [ -z "${!port:-}" ] || echo "export $port=${!port}"
      done
      if [ -z "${HF_HUB_OFFLINE:-}" ] && ! curl -fsS --max-time 5 -o /dev/null https://huggingface.co 2>/dev/null; then
        log "the Hugging Face hub is not reachable: HF_HUB_OFFLINE=1 (the default profile falls back to a demo model)"
        echo "export HF_HUB_OFFLINE=1"
      elif [ -n "${HF_HUB_OFFLINE:-}" ]; then echo "export HF_HUB_OFFLINE=$HF_HUB_OFFLINE"; fi
    } > "$state/components.env"
  fi
  . "$state/components.env"
  export AIDETECT_API_TOKEN; AIDETECT_API_TOKEN=$(cat "$state/api-token")
}

# launch NAME: start it detached, appending to its log.
launch() {
  local c=$1 logf=$state/logs/$1.log
  log "starting aidetect $c (log: $logf)"
  setsid "$AIDETECT_VENV/bin/python" -m aidetect.cli "$c" </dev/null >>"$logf" 2>&1 &
  echo $! > "$state/$c.pid"
}

# wait_ready NAME OFFSET: until it serves, judged by what its log says after byte OFFSET (this
# start's lines, not an earlier one's).
wait_ready() {
  local c=$1 offset=$2 logf=$state/logs/$1.log pid; pid=$(cat "$state/$c.pid")
  case $c in
    operator) wait_for operator "${READY_SECONDS[$c]}" "$logf" "$pid" -- \
      since "$logf" "$offset" "Activity 'startup' succeeded" ;;
    worker) wait_for worker "${READY_SECONDS[$c]}" "$logf" "$pid" -- since "$logf" "$offset" "serving \[" ;;
    api) wait_for api "${READY_SECONDS[$c]}" "$logf" "$pid" -- \
      curl -fsS "http://127.0.0.1:$AIDETECT_API_PORT/readyz" ;;
  esac || die "aidetect $c did not become ready"
}

# since FILE OFFSET PATTERN: PATTERN occurs in FILE after byte OFFSET.
since() { tail -c +"$(($2 + 1))" "$1" | grep -q "$3"; }

start() {
  environment
  mkdir -p "$state/logs"
  declare -A offsets=()
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then log "$c already running (pid $(cat "$state/$c.pid"))"; continue; fi
    touch "$state/logs/$c.log"; offsets[$c]=$(stat -c %s "$state/logs/$c.log")
    launch "$c"
  done
  for c in "${COMPONENTS[@]}"; do [ -z "${offsets[$c]:-}" ] || wait_ready "$c" "${offsets[$c]}"; done
}

restart() {
  local c=${1:?$usage}
  [[ " ${COMPONENTS[*]} " == *" $c "* ]] || die "unknown component $c ($usage)"
  environment
  stop_pidfile "aidetect $c" "$state/$c.pid" 30
  local offset; offset=$(stat -c %s "$state/logs/$c.log" 2>/dev/null || echo 0)
  launch "$c"
  wait_ready "$c" "$offset"
  log "aidetect $c is back (pid $(cat "$state/$c.pid"))"
}

stop() {
  for c in api worker operator; do
    stop_pidfile "aidetect $c" "$state/$c.pid" 30
    rm -f "$state/$c.pid"
  done
}

case $cmd in
  start) start ;;
  restart) restart "${3:-}" ;;
  stop) stop ;;
  *) die "unknown command $cmd ($usage)" ;;
esac
