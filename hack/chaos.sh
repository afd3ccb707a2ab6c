#!/usr/bin/env bash
# `make chaos`: the project's chaos suite (bench/chaos.py) on a fresh `make up` stack of its own.
# The stack lives in a new state dir (AIDETECT_STATE_DIR=mktemp), on ports of its own, with no
# KUBECONFIG / AIDETECT_*_URL taken from the caller, so a running `make up` or `make test` is never
# touched. The suite kills and restarts processes of that stack only; afterwards the stack is
# taken down by its pid files (hack/down.sh), pass or fail.
#   CHAOS_TASKS       tasks to submit (1000); CI runs 200
#   CHAOS_RATE        tasks per second (8)
#   CHAOS_SKIP        faults not to inject, space-separated (e.g. "rabbitmq")
#   CHAOS_SETTLE      seconds to wait, after the last submission, for every task to end (900)
#   CHAOS_WRITE_DOCS  1: put the figures into docs/reliability.md (default: 1 for 1000 tasks)
#   CHAOS_KEEP        where the logs and figures are kept afterwards (/tmp/aidetect-chaos-last)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tasks=${CHAOS_TASKS:-1000}
rate=${CHAOS_RATE:-8}
write_docs=${CHAOS_WRITE_DOCS:-$([ "$tasks" = 1000 ] && echo 1 || echo 0)}
keep=${CHAOS_KEEP:-${TMPDIR:-/tmp}/aidetect-chaos-last}
state=$(mktemp -d "${TMPDIR:-/tmp}/aidetect-chaos.XXXXXX")

unset KUBECONFIG AIDETECT_DATABASE_URL AIDETECT_AMQP_URL AIDETECT_S3_ENDPOINT
export AIDETECT_STATE_DIR=$state
AIDETECT_API_PORT=$(free_port); AIDETECT_OPERATOR_LIVENESS_PORT=$(free_port)
# Ports of their own for the probes and /metrics too, so that this stack runs beside `make up`
AIDETECT_OPERATOR_READINESS_PORT=$(free_port); AIDETECT_WORKER_HEALTH_PORT=$(free_port)
export AIDETECT_API_PORT AIDETECT_OPERATOR_LIVENESS_PORT AIDETECT_OPERATOR_READINESS_PORT AIDETECT_WORKER_HEALTH_PORT
AIDETECT_S3_PORT=$(free_port); export AIDETECT_S3_PORT  # not make up's 8333

# keep_logs: what the run leaves behind for a reader, outside the state dir that down removes.
keep_logs() {
  rm -rf "$keep/logs"; mkdir -p "$keep/logs"
  cp -r "$state/logs/." "$keep/logs/" 2>/dev/null || true
  cp "$state/up.log" "$keep/logs/" 2>/dev/null || true
  cp "$state/rabbitmq/server.out" "$keep/logs/rabbitmq.log" 2>/dev/null || true
  cp "$state/postgres/pg.log" "$keep/logs/postgres.log" 2>/dev/null || true
  for f in etcd apiserver controller-manager; do
    cp "$state/control-plane/$f.log" "$keep/logs/" 2>/dev/null || true
  done
}

teardown() {
  local rc=$?
  trap - EXIT
  keep_logs
  log "chaos: taking the stack down ($state)"
  bash "$HACK_DIR/down.sh" >>"$keep/logs/down.log" 2>&1 || log "chaos: make down failed: $keep/logs/down.log"
  log "chaos: logs and figures in $keep"
  exit $rc
}
trap teardown EXIT

mkdir -p "$keep"; rm -f "$keep/chaos.json" "$keep/chaos.md"
log "chaos: starting a fresh stack in $state (API on 127.0.0.1:$AIDETECT_API_PORT)"
bash "$HACK_DIR/up.sh" >"$state/up.log" 2>&1 || { tail -40 "$state/up.log" >&2; die "the stack did not start"; }

args=(--state "$state" --tasks "$tasks" --rate "$rate" --settle-timeout "${CHAOS_SETTLE:-900}" --out "$keep")
for f in ${CHAOS_SKIP:-}; do args+=(--skip-fault "$f"); done
[ "$write_docs" = 1 ] && args+=(--write-docs "$REPO_ROOT/docs/reliability.md")
log "chaos: $tasks tasks at $rate/s${CHAOS_SKIP:+, without: $CHAOS_SKIP}"
"$AIDETECT_VENV/bin/python" "$REPO_ROOT/bench/chaos.py" "${args[@]}"
