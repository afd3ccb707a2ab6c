#!/usr/bin/env bash
# `make cluster-test`: the cluster tests (tests/cluster) against `make cluster-up`'s cluster.
# The last test uninstalls the release; `make cluster-up` installs it again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_CLUSTER_DIR:-${TMPDIR:-/tmp}/aidetect-cluster}
[ -f "$state/env.sh" ] || die "no cluster in $state: run 'make cluster-up' first"
# shellcheck source=/dev/null
. "$state/env.sh"
cd "$REPO_ROOT"
set +e
"$AIDETECT_VENV/bin/python" -m pytest tests/cluster -m cluster "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then die "pytest collected no cluster tests (exit 5): that is a failure, not a pass"; fi
exit $rc
