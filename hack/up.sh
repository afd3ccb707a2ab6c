#!/usr/bin/env bash
# `make up`: start the local stack and leave it running. Idempotent: what runs is kept.
# Honours KUBECONFIG, AIDETECT_DATABASE_URL, AIDETECT_AMQP_URL and AIDETECT_S3_ENDPOINT (with
# AIDETECT_S3_ACCESS_KEY / _SECRET_KEY / _REGION): a service named by one of them is used as it is
# and not started. Our S3 server listens on AIDETECT_S3_PORT (8333, as examples/ assume).
# State lives in $AIDETECT_STATE_DIR (default /tmp/aidetect-local).
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
if [ -n "${AIDETECT_S3_ENDPOINT:-}" ]; then log "using AIDETECT_S3_ENDPOINT"
  echo "export AIDETECT_S3_ENDPOINT=$AIDETECT_S3_ENDPOINT AIDETECT_S3_ACCESS_KEY=${AIDETECT_S3_ACCESS_KEY:-aidetect} AIDETECT_S3_SECRET_KEY=${AIDETECT_S3_SECRET_KEY:-aidetect-dev-secret} AIDETECT_S3_REGION=${AIDETECT_S3_REGION:-us-east-1}" > "$state/s3.env"
else AIDETECT_S3_PORT=${AIDETECT_S3_PORT:-8333} bash "$HACK_DIR/s3.sh" start "$state"; fi

cat "$state/control-plane.env" "$state/postgres.env" "$state/rabbitmq.env" "$state/s3.env" > "$state/env.sh"
echo "export PATH=$AIDETECT_VENV/bin:\$PATH PYTHONPATH=$REPO_ROOT" >> "$state/env.sh"
. "$state/env.sh"

# The examples' corpus, where the example manifests read it: s3://aidetect-examples/corpora/.
sample=$REPO_ROOT/examples/data/sample.jsonl
if [ -f "$sample" ]; then
  python3 "$HACK_DIR/s3-seed.py" seed aidetect-examples "corpora/sample.jsonl=$sample"
fi

bash "$HACK_DIR/install-crds.sh"
aidetect db upgrade >&2
bash "$HACK_DIR/components.sh" start "$state"
token=$(cat "$state/api-token")
port=${AIDETECT_API_PORT:-8000}

cat >&2 <<MSG

aidetect is up: operator, one worker and the API on http://localhost:$port (state in $state).
Logs: $state/logs/. Use the stack from your shell:

  source $state/env.sh
  export AIDETECT_API_TOKEN=$token

Then try these three:

  kubectl apply -f examples/english-text.yaml && kubectl wait --for=condition=Succeeded dt/english-text --timeout=120s && kubectl get dt english-text

  TASK=\$(curl -s -H "Authorization: Bearer \$AIDETECT_API_TOKEN" -H 'Content-Type: application/json' -d '{"text": "The committee met on Tuesday to review the budget."}' localhost:$port/predict | python3 -c 'import sys, json; print(json.load(sys.stdin)["taskId"])'); echo \$TASK

  sleep 3; curl -s -H "Authorization: Bearer \$AIDETECT_API_TOKEN" localhost:$port/status/\$TASK | python3 -m json.tool

API docs: http://localhost:$port/docs. S3: $AIDETECT_S3_ENDPOINT (key $AIDETECT_S3_ACCESS_KEY,
secret in env.sh; bucket aidetect-examples). Stop everything with: make down
MSG
