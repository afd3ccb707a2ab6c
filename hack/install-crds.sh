#!/usr/bin/env bash
# Install (or update) the DetectionTask CRD and the operator's RBAC into the cluster in
# KUBECONFIG, and wait until the CRD is Established.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
log "applying crds/ and crds/rbac/"
kubectl apply --server-side --force-conflicts -f "$REPO_ROOT/crds/" >&2
kubectl apply -f "$REPO_ROOT/crds/rbac/" >&2
kubectl wait --for=condition=Established --timeout=60s crd/detectiontasks.aidetect.io >&2
