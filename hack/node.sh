#!/usr/bin/env bash
# A real Kubernetes node on this machine: the pod network, containerd, kubelet and kube-proxy.
#   hack/node.sh network-up STATE_DIR  the pod bridge (its address is the node IP) and isolation rules
#   hack/node.sh start STATE_DIR       containerd (images imported), kubelet, kube-proxy
#   hack/node.sh import STATE_DIR      import images rebuilt since (hack/build-images.sh) into containerd
#   hack/node.sh stop STATE_DIR        everything above, pods, mounts, rules, cgroups and sysctls
# It joins the control plane that `AIDETECT_NODE_IP=... hack/control-plane.sh start STATE_DIR`
# started. Pod traffic stays on the bridge: nothing is forwarded to or from another interface,
# and nothing is masqueraded to the outside. See docs/local-stack.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: node.sh network-up|start|stop STATE_DIR}; state=${2:?usage: node.sh CMD STATE_DIR}
dir=$state/node
cp_dir=$state/control-plane
KDIR=$AIDETECT_BIN/kubernetes-v$KUBE_VERSION
CDIR=$AIDETECT_BIN/containerd-v$CONTAINERD_VERSION
RUNC=$AIDETECT_BIN/runc-v$RUNC_VERSION/runc
CRICTL=$AIDETECT_BIN/crictl-v$CRICTL_VERSION/crictl
# Image content outlives a cluster, so the multi-GB worker image is imported once, not per run.
CONTAINERD_ROOT=${AIDETECT_CONTAINERD_ROOT:-$AIDETECT_CACHE/containerd}
ARCHIVES=${AIDETECT_IMAGES:-$AIDETECT_CACHE/images}/archives
BRIDGE=${AIDETECT_BRIDGE:-aidt0}
NODE_IP=${AIDETECT_NODE_IP:-$DEFAULT_NODE_IP}
PAUSE_IMAGE=localhost/pause:$PAUSE_VERSION
# What kubelet and the bridge plugin change (docs/local-stack.md), restored by `stop`.
SYSCTLS="kernel.panic kernel.panic_on_oops vm.overcommit_memory net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables"
CHAIN=AIDETECT-ISOLATE

spawn() { spawn_in "$dir" "$@"; }
crictl() { "$CRICTL" --runtime-endpoint "unix://$dir/containerd.sock" "$@"; }
ctr() { "$CDIR/ctr" --address "$dir/containerd.sock" --namespace k8s.io "$@"; }

# Keeps the pod bridge's traffic on the bridge: first in FORWARD, re-asserted after kube-proxy.
isolate() {
  iptables -w -N "$CHAIN" 2>/dev/null || iptables -w -F "$CHAIN"
  iptables -w -A "$CHAIN" -i "$BRIDGE" -o "$BRIDGE" -j RETURN
  iptables -w -A "$CHAIN" -i "$BRIDGE" -j DROP
  iptables -w -A "$CHAIN" -o "$BRIDGE" -j DROP
  while iptables -w -D FORWARD -j "$CHAIN" 2>/dev/null; do :; done
  iptables -w -I FORWARD 1 -j "$CHAIN"
}

network_up() {
  mkdir -p "$dir"
  if [ ! -f "$dir/sysctl.saved" ]; then
    for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s" 2>/dev/null || echo)"; done > "$dir/sysctl.saved"
  fi
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "network: bridge $BRIDGE with $NODE_IP (the node IP) for pods in $POD_CIDR"
    ip link add "$BRIDGE" type bridge
  fi
  ip addr show dev "$BRIDGE" | grep -q "inet $NODE_IP/" || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Service IPs from this machine go to the bridge too, never to the default route's interface.
  ip route replace "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP"
  # Service traffic between pods on one bridge must pass iptables for kube-proxy's DNAT.
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  isolate
}

write_configs() {
  mkdir -p "$dir/cni/net.d" "$dir/cni/ipam" "$dir/containerd" "$dir/kubelet" "$dir/pod-logs" "$CONTAINERD_ROOT"
  cat > "$dir/cni/net.d/10-aidetect.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "aidetect",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam",
             "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
             "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
EOF
  cat > "$dir/containerd.toml" <<EOF
version = 3
root = "$CONTAINERD_ROOT"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd.sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: lowering oom_score_adj fails every sandbox otherwise.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '$RUNC'
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '$dir/cni/net.d'
EOF
  cat > "$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $cp_dir/pki/ca.crt}
authorization: {mode: Webhook}
# This machine has cgroup v1 and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$dir/containerd.sock
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
# No host resolvers in pods: CoreDNS answers cluster names only.
resolvConf: ""
podLogsDir: $dir/pod-logs
# The images cannot be pulled again, so image GC must never remove them; and a busy shared disk
# must not evict the pods.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
registerWithTaints:
  - {key: nvidia.com/gpu, value: present, effect: NoSchedule}
EOF
  cat > "$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $cp_dir/proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:$proxy_healthz_port
metricsBindAddress: 127.0.0.1:$(free_port)
nodePortAddresses: [$NODE_IP/32]
# Leave the machine's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# Imports each OCI archive of hack/build-images.sh whose image id containerd does not have yet.
import_images() {
  local f name id
  mkdir -p "$CONTAINERD_ROOT/aidetect-imported"
  for f in "$ARCHIVES"/*.tar; do
    [ -e "$f" ] || die "no image archives in $ARCHIVES: run hack/build-images.sh"
    name=$(basename "$f" .tar); id=$(cat "$f.id")
    if [ "$(cat "$CONTAINERD_ROOT/aidetect-imported/$name" 2>/dev/null)" = "$id" ]; then continue; fi
    local t0=$SECONDS
    local out
    out=$(ctr images import --local "$f" 2>&1) || { echo "$out" >&2; die "importing $f into containerd failed"; }
    echo "$id" > "$CONTAINERD_ROOT/aidetect-imported/$name"
    log "imported $name into containerd in $((SECONDS - t0))s"
  done
  { ctr images ls -q 2>/dev/null || true; } | { grep -v '^sha256:' || true; } | sed 's/^/[images] /' >&2
}

start() {
  [ -f "$cp_dir/kubelet.kubeconfig" ] || die "start the control plane with AIDETECT_NODE_IP first"
  [ -x "$KDIR/kubelet" ] && [ -x "$CDIR/containerd" ] && [ -x "$RUNC" ] || bash "$HACK_DIR/build-node.sh"
  network_up
  if [ -f "$dir/kubelet.pid" ] && alive "$(cat "$dir/kubelet.pid")"; then
    log "node already running in $dir"; return
  fi
  kubelet_healthz_port=$(free_port); proxy_healthz_port=$(free_port)
  write_configs

  log "containerd v$CONTAINERD_VERSION: starting (root $CONTAINERD_ROOT)"
  PATH=$CDIR:$PATH spawn containerd "$CDIR/containerd" --config "$dir/containerd.toml"
  wait_for "containerd" 60 "$dir/containerd.log" "$(cat "$dir/containerd.pid")" -- \
    "$CDIR/ctr" --address "$dir/containerd.sock" version || die "containerd did not start"
  import_images

  log "kubelet v$KUBE_VERSION: starting as node $NODE_NAME ($NODE_IP)"
  spawn kubelet "$KDIR/kubelet" --config="$dir/kubelet.yaml" --kubeconfig="$cp_dir/kubelet.kubeconfig" \
    --root-dir="$dir/kubelet" --cert-dir="$dir/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels="nvidia.com/gpu.present=true"
  wait_for "kubelet" 90 "$dir/kubelet.log" "$(cat "$dir/kubelet.pid")" -- \
    curl -fsS "http://127.0.0.1:$kubelet_healthz_port/healthz" || die "kubelet did not become healthy"

  log "kube-proxy v$KUBE_VERSION: starting (iptables mode)"
  spawn kube-proxy "$KDIR/kube-proxy" --config="$dir/kube-proxy.yaml"
  wait_for "kube-proxy" 60 "$dir/kube-proxy.log" "$(cat "$dir/kube-proxy.pid")" -- \
    curl -fsS "http://127.0.0.1:$proxy_healthz_port/healthz" || die "kube-proxy did not become healthy"
  isolate
  log "node $NODE_NAME running: logs in $dir/*.log"
}

stop_pid() { stop_pidfile "$1" "$dir/$1.pid"; }

# Removes a cgroup subtree bottom-up in every v1 hierarchy (and the unified one).
remove_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$h" ] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

stop() {
  [ -d "$dir" ] || { log "node: nothing to stop in $dir"; return; }
  stop_pid kubelet
  if [ -S "$dir/containerd.sock" ]; then
    log "removing pods and containers"
    crictl rmp --force --all >/dev/null 2>&1 || true
    # Tasks that CRI no longer lists (a crashed kubelet's): kill them through ctr.
    for c in $(ctr containers ls -q 2>/dev/null); do
      ctr tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
      ctr tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop_pid kube-proxy
  "$KDIR/kube-proxy" --cleanup >/dev/null 2>&1 || true
  stop_pid containerd
  pkill -KILL -f "containerd-shim-runc-v2 -namespace k8s.io -address $dir/containerd.sock" 2>/dev/null || true
  log "unmounting and removing node state"
  { grep -F " $dir/" /proc/mounts || true; } | cut -d' ' -f2 | sort -r \
    | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  remove_cgroups
  for t in iptables ip6tables; do
    $t -w -D FORWARD -j "$CHAIN" 2>/dev/null || true
    $t -w -F "$CHAIN" 2>/dev/null && $t -w -X "$CHAIN" 2>/dev/null || true
    # kubelet's chains: the jumps to them first, then the chains themselves.
    for table in filter nat mangle; do
      for chain in INPUT OUTPUT FORWARD PREROUTING POSTROUTING; do
        { $t -w -t "$table" -S "$chain" 2>/dev/null || true; } \
          | { grep -E -- '-j KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT|PROXY-CANARY)' || true; } \
          | sed 's/^-A/-D/' | while read -r rule; do eval "$t -w -t $table $rule" 2>/dev/null || true; done
      done
      for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-PROXY-CANARY; do
        $t -w -t "$table" -F "$c" 2>/dev/null && $t -w -t "$table" -X "$c" 2>/dev/null || true
      done
    done
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  for v in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link show "$v" | grep -q "master $BRIDGE" && ip link del "$v" 2>/dev/null || true
  done
  if [ -f "$dir/sysctl.saved" ]; then
    while IFS='=' read -r k v; do [ -n "$v" ] && sysctl -qw "$k=$v" 2>/dev/null || true; done < "$dir/sysctl.saved"
    log "restored sysctls: $(tr '\n' ' ' < "$dir/sysctl.saved")"
  fi
  if grep -qF " $dir/" /proc/mounts; then die "mounts remain under $dir; not removing it"; fi
  rm -rf --one-file-system "$dir"
  # Fixed paths that kubelet, the runc shim and CNI use whatever they are configured with;
  # removed only when empty, so that nothing of another runtime on this machine is touched.
  # kubelet's device-plugin socket and checkpoint are its own (there is no device plugin here).
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  for d in /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd \
           /var/lib/cni/results /var/lib/cni /var/lib/kubelet/device-plugins /var/lib/kubelet/pod-resources \
           /var/lib/kubelet/plugins_registry /var/lib/kubelet/plugins /var/lib/kubelet; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
  done
}

case $cmd in
  network-up) network_up ;;
  start) start ;;
  import) import_images ;;
  stop) stop ;;
  *) die "unknown command $cmd" ;;
esac
