#!/usr/bin/env bash
# Start or stop a real local control plane: etcd, kube-apiserver (RBAC + token auth) and
# kube-controller-manager, on free loopback ports (off the ephemeral range: lib.sh's free_port)
# with data in STATE_DIR/control-plane.
#   hack/control-plane.sh start STATE_DIR  -> writes STATE_DIR/kubeconfig and STATE_DIR/control-plane.env
#   hack/control-plane.sh stop  STATE_DIR
# Binaries come from hack/build-control-plane.sh (built into the cache when missing).
#
# With AIDETECT_NODE_IP set (hack/cluster-up.sh does), the control plane is one that a real node
# joins: the apiserver listens on that address (the pod bridge's, so that pods reach it through
# the `kubernetes` Service) instead of loopback, authorizes kubelets with the Node authorizer,
# reaches them with a client certificate, and kube-scheduler runs, with the node-lifecycle,
# volume-binding and protection controllers added to the controller-manager.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: control-plane.sh start|stop STATE_DIR}; state=${2:?usage: control-plane.sh start|stop STATE_DIR}
dir=$state/control-plane
KDIR=$AIDETECT_BIN/kubernetes-v$KUBE_VERSION
ETCD=$AIDETECT_BIN/etcd-v$ETCD_VERSION/etcd
ADMIN_TOKEN=${AIDETECT_ADMIN_TOKEN:-admin-$(random_hex 12)}
NODE_IP=${AIDETECT_NODE_IP:-}  # empty: the loopback-only control plane of make up
CONTROLLERS=garbagecollector,namespace,serviceaccount,serviceaccount-token,root-ca-cert-publisher,deployment,replicaset,statefulset,job,cronjob,ttl-after-finished,endpointslice

# write_kubeconfig FILE TOKEN: a kubeconfig for the apiserver with that bearer token.
write_kubeconfig() {
  cat > "$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: aidetect-local
  cluster:
    server: https://$bind_ip:$apiserver_port
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: user
  user:
    token: $2
contexts:
- name: aidetect-local
  context: {cluster: aidetect-local, user: user, namespace: default}
current-context: aidetect-local
KUBECONFIG
  chmod 600 "$1"
}

# A CA for the kubelet's client-certificate authentication, and the apiserver's client cert
# signed by it: kubelet runs with anonymous auth off and webhook authorization.
make_node_pki() {
  local p=$dir/pki; mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=aidetect-local-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$p/apiserver-kubelet-client.key" -out "$p/apiserver-kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$p/apiserver-kubelet-client.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" \
    -CAcreateserial -days 30 -out "$p/apiserver-kubelet-client.crt" 2>/dev/null
}

spawn() { spawn_in "$dir" "$@"; }

start() {
  if [ -f "$state/control-plane.env" ] && [ -f "$dir/apiserver.pid" ] && alive "$(cat "$dir/apiserver.pid")"; then
    log "control plane already running in $dir"; return
  fi
  [ -x "$ETCD" ] && [ -x "$KDIR/kube-apiserver" ] && [ -x "$KDIR/kube-controller-manager" ] \
    || bash "$HACK_DIR/build-control-plane.sh"
  mkdir -p "$dir/certs" "$dir/etcd"
  local etcd_port etcd_peer_port kcm_port sched_port
  etcd_port=$(free_port); etcd_peer_port=$(free_port); apiserver_port=$(free_port)
  kcm_port=$(free_port); sched_port=$(free_port)
  bind_ip=${NODE_IP:-127.0.0.1}

  log "etcd v$ETCD_VERSION: starting on 127.0.0.1:$etcd_port"
  spawn etcd "$ETCD" --data-dir "$dir/etcd" --name aidetect-local \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level warn
  wait_for "etcd" 60 "$dir/etcd.log" "$(cat "$dir/etcd.pid")" -- \
    curl -fsS "http://127.0.0.1:$etcd_port/health" || { stop; die "etcd did not become healthy"; }

  log "kube-apiserver v$KUBE_VERSION: starting on https://$bind_ip:$apiserver_port"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  echo "$ADMIN_TOKEN,admin,admin,\"system:masters\"" > "$dir/tokens.csv"
  local node_flags=(--advertise-address=127.0.0.1 --authorization-mode=RBAC --endpoint-reconciler-type=none)
  if [ -n "$NODE_IP" ]; then
    make_node_pki
    # One identity per component, as kubeadm gives them: the bootstrap RBAC roles apply to each.
    kubelet_token=$(random_hex 16) scheduler_token=$(random_hex 16) proxy_token=$(random_hex 16)
    {
      echo "$kubelet_token,system:node:$NODE_NAME,kubelet,\"system:nodes\""
      echo "$scheduler_token,system:kube-scheduler,kube-scheduler"
      echo "$proxy_token,system:kube-proxy,kube-proxy"
    } >> "$dir/tokens.csv"
    node_flags=(--advertise-address="$NODE_IP" --authorization-mode=Node,RBAC
      --enable-admission-plugins=NodeRestriction
      --kubelet-preferred-address-types=InternalIP,Hostname
      --kubelet-client-certificate="$dir/pki/apiserver-kubelet-client.crt"
      --kubelet-client-key="$dir/pki/apiserver-kubelet-client.key")
  fi
  cat > "$dir/audit-policy.yaml" <<'POLICY'
# Records every write (and watch/list metadata is skipped) so API writes per task can be counted.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
POLICY
  spawn apiserver "$KDIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address="$bind_ip" --secure-port="$apiserver_port" "${node_flags[@]}" \
    --cert-dir="$dir/certs" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --api-audiences=https://kubernetes.default.svc \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --token-auth-file="$dir/tokens.csv" --allow-privileged=true \
    --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/audit.log" \
    --audit-log-format=json --audit-log-mode=batch --audit-log-batch-max-wait=1s
  wait_for "kube-apiserver" 120 "$dir/apiserver.log" "$(cat "$dir/apiserver.pid")" -- \
    curl -fsSk -H "Authorization: Bearer $ADMIN_TOKEN" "https://$bind_ip:$apiserver_port/readyz" \
    || { stop; die "kube-apiserver did not become ready"; }

  write_kubeconfig "$state/kubeconfig" "$ADMIN_TOKEN"
  local controllers=$CONTROLLERS
  if [ -n "$NODE_IP" ]; then
    write_kubeconfig "$dir/kubelet.kubeconfig" "$kubelet_token"
    write_kubeconfig "$dir/scheduler.kubeconfig" "$scheduler_token"
    write_kubeconfig "$dir/proxy.kubeconfig" "$proxy_token"
    controllers=$controllers,nodelifecycle,persistentvolume-binder,pv-protection,pvc-protection,disruption,podgc
  fi

  # The controllers the tests rely on: GC (ownerReferences), namespace deletion, the ServiceAccount
  # flow (default SAs, kube-root-ca.crt), and Deployment/ReplicaSet/StatefulSet so a Helm install
  # produces real (Pending, as no kubelet runs) pods.
  log "kube-controller-manager v$KUBE_VERSION: starting"
  spawn controller-manager "$KDIR/kube-controller-manager" \
    --kubeconfig="$state/kubeconfig" \
    --authentication-kubeconfig="$state/kubeconfig" --authorization-kubeconfig="$state/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
    --controllers="$controllers" \
    --service-account-private-key-file="$dir/sa.key" --root-ca-file="$dir/certs/apiserver.crt" \
    --use-service-account-credentials=false
  wait_for "kube-controller-manager" 60 "$dir/controller-manager.log" "$(cat "$dir/controller-manager.pid")" -- \
    curl -fsSk "https://127.0.0.1:$kcm_port/healthz" || { stop; die "kube-controller-manager did not become healthy"; }
  wait_for "default ServiceAccount" 60 "$dir/controller-manager.log" "" -- \
    kubectl --kubeconfig "$state/kubeconfig" get serviceaccount default -n default \
    || { stop; die "the serviceaccount controller did not create default/default"; }

  if [ -n "$NODE_IP" ]; then
    log "kube-scheduler v$KUBE_VERSION: starting"
    spawn scheduler "$KDIR/kube-scheduler" --kubeconfig="$dir/scheduler.kubeconfig" \
      --authentication-kubeconfig="$dir/scheduler.kubeconfig" --authorization-kubeconfig="$dir/scheduler.kubeconfig" \
      --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false
    wait_for "kube-scheduler" 60 "$dir/scheduler.log" "$(cat "$dir/scheduler.pid")" -- \
      curl -fsSk "https://127.0.0.1:$sched_port/healthz" || { stop; die "kube-scheduler did not become healthy"; }
  fi
  echo "export KUBECONFIG=$state/kubeconfig" > "$state/control-plane.env"
  log "control plane ready: export KUBECONFIG=$state/kubeconfig"
}

stop() {
  [ -d "$dir" ] || { log "control plane: nothing to stop in $dir"; return; }
  for name in scheduler controller-manager apiserver etcd; do stop_pidfile "$name" "$dir/$name.pid"; done
  rm -rf "$dir" "$state/kubeconfig" "$state/control-plane.env"
}

case $cmd in start) start ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
