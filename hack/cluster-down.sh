#!/usr/bin/env bash
# `make cluster-down`: stop what `make cluster-up` started and clean up after it: pods, shims,
# mounts, the bridge, CNI state, kube-proxy's and kubelet's rules, cgroups and the sysctls kubelet
# changed (hack/node.sh stop), then the control plane, then the state dir. The image store and
# containerd's image content stay in the cache, so the next cluster-up does not import them again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_CLUSTER_DIR:-${TMPDIR:-/tmp}/aidetect-cluster}
[ -d "$state" ] || { log "nothing to stop: $state does not exist"; exit 0; }
bash "$HACK_DIR/node.sh" stop "$state"
bash "$HACK_DIR/control-plane.sh" stop "$state"
grep -qF " $state/" /proc/mounts && die "mounts remain under $state; not removing it"
rm -rf --one-file-system "$state"
log "stopped; removed $state"
