#!/usr/bin/env bash
# `make down`: stop what `make up` started and remove its state. Services that were given
# through KUBECONFIG / AIDETECT_*_URL were not started by us and are left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_STATE_DIR:-${TMPDIR:-/tmp}/aidetect-local}
[ -d "$state" ] || { log "nothing to stop: $state does not exist"; exit 0; }
bash "$HACK_DIR/components.sh" stop "$state" || true
bash "$HACK_DIR/s3.sh" stop "$state" || true
bash "$HACK_DIR/rabbitmq.sh" stop "$state" || true
bash "$HACK_DIR/postgres.sh" stop "$state" || true
bash "$HACK_DIR/control-plane.sh" stop "$state" || true
rm -rf "$state"
log "stopped; removed $state"
