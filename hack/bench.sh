#!/usr/bin/env bash
# `make bench` / `make bench-memory`: bench/bench.py on a fresh `make up` stack of its own.
# Like `make chaos` (hack/chaos.sh): a new state dir (mktemp), ports of its own, no KUBECONFIG /
# AIDETECT_*_URL taken from the caller, and the stack taken down afterwards (hack/down.sh), pass
# or fail. Every size has a BENCH_<NAME> variable (see `python bench/bench.py --help`), e.g.
#   BENCH_TASKS         single-text tasks per path for the throughput (500)
#   BENCH_FLOOR_TASKS   CRs for the kopf floor (1000)
#   BENCH_THREADS       client threads (8)
#   BENCH_LIVE_CRS      live CRs for the operator's RSS (10000)
#   BENCH_MEMORY_TASKS  tasks for `make bench-memory` (50000)
#   BENCH_CORPUS_TEXTS  records of the corpus job of `make bench-corpus` (100000)
#   BENCH_QUICK=1       tiny sizes: a smoke test of every step (about 3 minutes)
#   BENCH_WRITE_DOCS    1: put the table into docs/benchmarks.md (default: 1 unless quick)
#   BENCH_SLOT          the block of docs/benchmarks.md to fill (last, before, memory)
#   BENCH_KEEP          where the logs and figures are kept (/tmp/aidetect-bench-last)
#   BENCH_WAIT_QUIET    wait up to this many seconds for the machine to be < 15 % busy first
# Arguments are passed to bench/bench.py: `hack/bench.sh --memory`, `--skip live`, ...
set -euo pipefail
. "$(dirname "$0")/lib.sh"

quick=${BENCH_QUICK:-0}
for a in "$@"; do [ "$a" != --quick ] || quick=1; done
write_docs=${BENCH_WRITE_DOCS:-$([ "$quick" = 1 ] && echo 0 || echo 1)}
keep=${BENCH_KEEP:-${TMPDIR:-/tmp}/aidetect-bench-last}
state=$(mktemp -d "${TMPDIR:-/tmp}/aidetect-bench.XXXXXX")

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
  for f in etcd apiserver controller-manager; do
    cp "$state/control-plane/$f.log" "$keep/logs/" 2>/dev/null || true
  done
}

teardown() {
  local rc=$?
  trap - EXIT
  keep_logs
  log "bench: taking the stack down ($state)"
  bash "$HACK_DIR/down.sh" >>"$keep/logs/down.log" 2>&1 || log "bench: make down failed: $keep/logs/down.log"
  log "bench: logs and figures in $keep"
  exit $rc
}
trap teardown EXIT

mkdir -p "$keep"; rm -f "$keep/bench.json" "$keep/bench.md"
if [ -n "${BENCH_WAIT_QUIET:-}" ]; then
  log "bench: waiting up to ${BENCH_WAIT_QUIET}s for the machine to be quiet"
  "$AIDETECT_VENV/bin/python" "$REPO_ROOT/bench/bench_cpu.py" "$BENCH_WAIT_QUIET" \
    || log "bench: still busy after ${BENCH_WAIT_QUIET}s; running anyway"
fi
log "bench: load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
log "bench: starting a fresh stack in $state (API on 127.0.0.1:$AIDETECT_API_PORT)"
bash "$HACK_DIR/up.sh" >"$state/up.log" 2>&1 || { tail -40 "$state/up.log" >&2; die "the stack did not start"; }

if [[ " $* " == *" --corpus "* ]]; then  # `make bench-corpus`: one corpus job, bench/bench_corpus.py
  log "bench: running bench/bench_corpus.py (BENCH_CORPUS_TEXTS=${BENCH_CORPUS_TEXTS:-100000})"
  "$AIDETECT_VENV/bin/python" "$REPO_ROOT/bench/bench_corpus.py" --state "$state" --out "$keep"
  exit
fi
args=(--state "$state" --out "$keep")
[ "$quick" = 1 ] && [[ " $* " != *" --quick "* ]] && args+=(--quick)
[ "$write_docs" = 1 ] && args+=(--write-docs "$REPO_ROOT/docs/benchmarks.md")
[ -n "${BENCH_SLOT:-}" ] && args+=(--slot "$BENCH_SLOT")
log "bench: running bench/bench.py ${args[*]} $*"
"$AIDETECT_VENV/bin/python" "$REPO_ROOT/bench/bench.py" "${args[@]}" "$@"
