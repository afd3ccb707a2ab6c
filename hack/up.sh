#!/usr/bin/env bash
# `make up`: start the local stack and leave it running. Idempotent: what runs is kept.
# Honours KUBECONFIG, AIDETECT_DATABASE_URL and AIDETECT_AMQP_URL: a service named by one of them
# is used as it is and not started. State lives in $AIDETECT_STATE_DIR (default /tmp/aidetect-local).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_STATE_DIR:-${TMPDIR:-/tmp}/aidetect-local}
mkdir -p "$state"

bash "$HACK_DIR/install-deps.sh"

if [ -n "${KUBECONFIG:-}" ]; then log "using the cluster in KUBECONFIG=$KUBECONFIG"
  echo "export KUBECONFIG=$KUBECONFIG" > "$state/control-plane.env"
else bash "$HACK_DIR/control-plane.sh" start "$state"; fi
if [ -n "${AIDETECT_DATABASE_URL:-}" ]; then log "using AIDETECT_DATABASE_URL"
  echo "export AIDETECT_DATABASE_URL=$AIDETECT_DATABASE_URL" > "$state/postgres.env"
else bash "$HACK_DIR/postgres.sh" start "$state"; fi
if [ -n "${AIDETECT_AMQP_URL:-}" ]; then log "using AIDETECT_AMQP_URL"
  echo "export AIDETECT_AMQP_URL=$AIDETECT_AMQP_URL" > "$state/rabbitmq.env"
else bash "$HACK_DIR/rabbitmq.sh" start "$state"; fi

cat "$state/control-plane.env" "$state/postgres.env" "$state/rabbitmq.env" > "$state/env.sh"
echo "export PATH=$AIDETECT_VENV/bin:\$PATH PYTHONPATH=$REPO_ROOT" >> "$state/env.sh"
. "$state/env.sh"

bash "$HACK_DIR/install-crds.sh"

cat >&2 <<MSG

aidetect local stack is up (state in $state). To use it from your shell:

  source $state/env.sh

$(sed 's/^/  /' "$state/env.sh")

Then, for example:
  kubectl apply -f examples/english-text.yaml
  kubectl get dt

Stop everything with: make down
MSG
