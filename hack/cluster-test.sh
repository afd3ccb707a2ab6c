#!/usr/bin/env bash
# `make cluster-test`: the cluster tests (tests/cluster) against `make cluster-up`'s cluster,
# through hack/test.sh (the same pytest run and exit-code handling as `make test`).
# The last test uninstalls the release; `make cluster-up` installs it again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_CLUSTER_DIR:-${TMPDIR:-/tmp}/aidetect-cluster}
[ -f "$state/env.sh" ] || die "no cluster in $state: run 'make cluster-up' first"
# shellcheck source=/dev/null
. "$state/env.sh"
exec bash "$HACK_DIR/test.sh" tests/cluster -m cluster "$@"
