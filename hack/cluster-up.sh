#!/usr/bin/env bash
# `make cluster-up`: a real one-node cluster on this machine, with the chart installed on it.
#   1. builds what is missing: node binaries (hack/build-node.sh), images (hack/build-images.sh);
#   2. the pod bridge, then the control plane with kube-scheduler, then containerd, kubelet and
#      kube-proxy (hack/node.sh), then CoreDNS and a default StorageClass of local volumes;
#   3. fake nvidia.com/gpu capacity on the node (a status patch), which is labelled and tainted
#      like a GPU node; a tiny classifier in the node's model cache (hostPath);
#   4. helm install with helm/aidetect/ci/local-node-values.yaml, waiting for every pod Ready.
# State lives in $AIDETECT_CLUSTER_DIR (default /tmp/aidetect-cluster); it writes env.sh there.
# Idempotent: what runs is kept. `make cluster-down` stops and removes everything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
state=${AIDETECT_CLUSTER_DIR:-${TMPDIR:-/tmp}/aidetect-cluster}
export AIDETECT_NODE_IP=${AIDETECT_NODE_IP:-$DEFAULT_NODE_IP}  # also tells control-plane.sh to serve a node
GPUS=${AIDETECT_FAKE_GPUS:-4}
RELEASE=aidetect NAMESPACE=aidetect
mkdir -p "$state"
t_start=$SECONDS

bash "$HACK_DIR/install-deps.sh"
bash "$HACK_DIR/build-node.sh"
t0=$SECONDS; bash "$HACK_DIR/build-images.sh"; log "images ready in $((SECONDS - t0))s"

bash "$HACK_DIR/node.sh" network-up "$state"
bash "$HACK_DIR/control-plane.sh" start "$state"
export KUBECONFIG=$state/kubeconfig
bash "$HACK_DIR/node.sh" start "$state"

log "waiting for node $NODE_NAME to be Ready"
wait_for "node Ready" 120 "$state/node/kubelet.log" "" -- \
  kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
# A device plugin would advertise the GPUs; the documented stand-in is a patch of the node's
# status ("Advertise Extended Resources for a Node"), which kubelet keeps and copies to allocatable.
log "advertising $GPUS fake nvidia.com/gpu on $NODE_NAME"
kubectl patch node "$NODE_NAME" --subresource=status --type=json \
  -p "[{\"op\": \"add\", \"path\": \"/status/capacity/nvidia.com~1gpu\", \"value\": \"$GPUS\"}]" >/dev/null
gpus_allocatable() {
  [ "$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')" = "$GPUS" ]
}
wait_for "allocatable GPUs" 60 "$state/node/kubelet.log" "" -- gpus_allocatable

log "CoreDNS, the default StorageClass and local volumes"
sed -e "s|@COREDNS_IMAGE@|localhost/coredns:$COREDNS_VERSION|" -e "s|@CLUSTER_DNS@|$CLUSTER_DNS|" \
  "$HACK_DIR/cluster/coredns.yaml" | kubectl apply -f - >/dev/null
kubectl apply -f "$HACK_DIR/cluster/storage.yaml" >/dev/null
for n in 1 2 3 4; do
  mkdir -p "$state/volumes/pv-$n"
  sed -e "s|@N@|$n|" -e "s|@PV_DIR@|$state/volumes/pv-$n|" -e "s|@NODE_NAME@|$NODE_NAME|" \
    "$HACK_DIR/cluster/pv.yaml" | kubectl apply -f - >/dev/null
done
# There is no provisioner to recycle volumes: a volume whose claim was deleted (helm uninstall)
# is wiped and made Available again, so that reinstalling finds free volumes.
for pv in $(kubectl get pv -l aidetect.io/local-volume -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}'); do
  path=$(kubectl get pv "$pv" -o jsonpath='{.spec.local.path}')
  case $path in "$state"/volumes/pv-*) ;; *) die "volume $pv is at $path, outside $state/volumes: not wiping it" ;; esac
  log "recycling released volume $pv ($path)"
  find "$path" -mindepth 1 -delete
  kubectl patch pv "$pv" --type=json -p '[{"op": "remove", "path": "/spec/claimRef"}]' >/dev/null
done
kubectl -n kube-system rollout status deployment/coredns --timeout=120s >&2

log "a tiny classifier in the node's model cache ($state/models)"
mkdir -p "$state/models"
python - "$state/models/tiny-classifier" <<'PY'
import sys
from pathlib import Path
from aidetect.worker.detectors.demo import build_demo_classifier
build_demo_classifier(Path(sys.argv[1]))
PY
chown -R 10001:10001 "$state/models"

log "helm install $RELEASE helm/aidetect -n $NAMESPACE (ci/local-node-values.yaml)"
t0=$SECONDS
helm upgrade --install "$RELEASE" "$REPO_ROOT/helm/aidetect" -n "$NAMESPACE" --create-namespace \
  -f "$REPO_ROOT/helm/aidetect/ci/local-node-values.yaml" \
  --set "workers[0].modelCache.hostPath=$state/models" --wait --timeout 10m >&2 \
  || { kubectl get pods -A -o wide >&2; kubectl get events -n "$NAMESPACE" --sort-by=.lastTimestamp | tail -30 >&2; die "helm install failed"; }
log "release installed; all pods Ready in $((SECONDS - t0))s"
kubectl get pods -n "$NAMESPACE" -o wide >&2

api_ip=$(kubectl get svc -n "$NAMESPACE" "$RELEASE-api" -o jsonpath='{.spec.clusterIP}')
api_port=$(kubectl get svc -n "$NAMESPACE" "$RELEASE-api" -o jsonpath='{.spec.ports[0].port}')
cat > "$state/env.sh" <<ENV
export KUBECONFIG=$state/kubeconfig
export PATH=$AIDETECT_BIN/helm-v$HELM_VERSION:$AIDETECT_VENV/bin:\$PATH
export AIDETECT_CLUSTER_DIR=$state
export AIDETECT_CLUSTER_API=http://$api_ip:$api_port
ENV
cat >&2 <<MSG

The local cluster is up in $((SECONDS - t_start))s: node $NODE_NAME ($AIDETECT_NODE_IP), release $RELEASE in
namespace $NAMESPACE (state in $state). Use it from your shell:

  source $state/env.sh
  kubectl get pods -n $NAMESPACE -o wide
  helm test $RELEASE -n $NAMESPACE
  kubectl apply -f examples/english-text.yaml && kubectl wait --for=condition=Succeeded dt/english-text --timeout=120s

The API's Service answers on $api_ip:$api_port from this machine (kube-proxy routes it):

  TOKEN=\$(kubectl get secret -n $NAMESPACE $RELEASE-api-token -o jsonpath='{.data.token}' | base64 -d)
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
    -d '{"text": "The committee met on Tuesday to review the budget."}' http://$api_ip:$api_port/predict

Run the cluster tests with: make cluster-test. Stop everything with: make cluster-down
MSG
