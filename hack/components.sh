#!/usr/bin/env bash
# Start or stop aidetect's own processes (operator, one worker, API on localhost:8000) for `make up`.
#   hack/components.sh start|stop STATE_DIR   (needs STATE_DIR/env.sh from hack/up.sh)
# Logs: STATE_DIR/logs/{operator,worker,api}.log; the API token: STATE_DIR/api-token.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: components.sh start|stop STATE_DIR}; state=${2:?usage: components.sh start|stop STATE_DIR}
COMPONENTS=(operator worker api)

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

start() {
  . "$state/env.sh"
  mkdir -p "$state/logs"
  [ -f "$state/api-token" ] || random_hex 24 > "$state/api-token"
  export AIDETECT_API_TOKEN=$(cat "$state/api-token")
  export AIDETECT_API_PORT=${AIDETECT_API_PORT:-8000} AIDETECT_LOG_FORMAT=${AIDETECT_LOG_FORMAT:-text}
  if [ -z "${HF_HUB_OFFLINE:-}" ] && ! curl -fsS --max-time 5 -o /dev/null https://huggingface.co 2>/dev/null; then
    log "the Hugging Face hub is not reachable: HF_HUB_OFFLINE=1 (the default profile falls back to a demo model)"
    export HF_HUB_OFFLINE=1
  fi
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then log "$c already running (pid $(cat "$state/$c.pid"))"; continue; fi
    log "starting aidetect $c (log: $state/logs/$c.log)"
    setsid "$AIDETECT_VENV/bin/python" -m aidetect.cli "$c" </dev/null >"$state/logs/$c.log" 2>&1 &
    echo $! > "$state/$c.pid"
  done
  wait_for "operator" 120 "$state/logs/operator.log" "$(cat "$state/operator.pid")" -- \
    grep -q "Activity 'startup' succeeded" "$state/logs/operator.log" || die "the operator did not start"
  wait_for "worker" 300 "$state/logs/worker.log" "$(cat "$state/worker.pid")" -- \
    grep -q "serving \[" "$state/logs/worker.log" || die "the worker did not start"
  wait_for "api" 60 "$state/logs/api.log" "$(cat "$state/api.pid")" -- \
    curl -fsS "http://127.0.0.1:$AIDETECT_API_PORT/readyz" || die "the API is not ready"
}

stop() {
  for c in api worker operator; do
    stop_pidfile "aidetect $c" "$state/$c.pid" 30
    rm -f "$state/$c.pid"
  done
}

case $cmd in start) start ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
