#!/usr/bin/env bash
# `make test`: install what is missing, then run the whole test suite with pytest.
# The e2e fixtures start etcd, kube-apiserver, kube-controller-manager, Postgres and RabbitMQ
# once per session through these hack/ scripts (or use KUBECONFIG / AIDETECT_*_URL if set).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_STATE_DIR:-${TMPDIR:-/tmp}/aidetect-local}
if [ "${KUBECONFIG:-}" = "$state/kubeconfig" ] && [ -f "$state/operator.pid" ] \
   && alive "$(cat "$state/operator.pid")"; then
  die "KUBECONFIG points at the 'make up' cluster, whose operator would handle the tests' tasks too.
Run 'make test' in a shell without that environment (the tests start their own services), or 'make down' first."
fi
bash "$HACK_DIR/install-deps.sh"
cd "$REPO_ROOT"
set +e
"$AIDETECT_VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then die "pytest collected no tests (exit 5): that is a failure, not a pass"; fi
exit $rc
