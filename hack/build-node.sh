#!/usr/bin/env bash
# Build (or install) what a real local node needs, into the cache, each piece only when missing:
#   - Debian packages: buildah, mmdebstrap, CNI plugins, iptables, conntrack, libseccomp;
#   - kubelet, kube-scheduler, kube-proxy (the apiserver's k8s.io/kubernetes module recipe);
#   - containerd v2, its runc shim and ctr; runc with seccomp (cgo); crictl; CoreDNS;
#   - the pause binary, compiled from the k8s module's build/pause/linux/pause.c.
# Versions are in hack/versions.env. No release download is used: Go modules and Debian only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=local
export GOMODCACHE=${GOMODCACHE_AIDETECT:-$AIDETECT_CACHE/go/mod}
export GOCACHE=${GOCACHE_AIDETECT:-$AIDETECT_CACHE/go/build}
command -v go >/dev/null || die "go is not installed; install Go >= 1.24 first"

install_debian_packages() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v ip >/dev/null || missing+=(iproute2)
  [ -e /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
  [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  command -v gcc >/dev/null || missing+=(gcc)
  if [ ${#missing[@]} -eq 0 ]; then log "node Debian packages present"; return; fi
  log "installing Debian packages: ${missing[*]}"
  [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go_install DIR PACKAGE@VERSION [go install flags...]: build into DIR unless its binary exists.
go_install() {
  local dir=$1 pkg=$2; shift 2
  local bin; bin=$(basename "${pkg%@*}")
  if [ -x "$dir/$bin" ]; then log "$bin present at $dir/$bin"; return; fi
  log "building $pkg"
  local t0=$SECONDS
  mkdir -p "$dir"
  GOBIN=$dir go install -trimpath "$@" "$pkg"
  log "built $dir/$bin ($(du -h "$dir/$bin" | cut -f1)) in $((SECONDS - t0))s"
}

build_containerd() {
  local dir=$AIDETECT_BIN/containerd-v$CONTAINERD_VERSION
  local m=github.com/containerd/containerd/v2 tags="urfave_cli_no_docs osusergo netgo static_build"
  local ld="-s -w -X $m/version.Version=v$CONTAINERD_VERSION"
  CGO_ENABLED=0 go_install "$dir" "$m/cmd/containerd@v$CONTAINERD_VERSION" -tags "$tags" -ldflags "$ld"
  CGO_ENABLED=0 go_install "$dir" "$m/cmd/ctr@v$CONTAINERD_VERSION" -tags "$tags" -ldflags "$ld"
  CGO_ENABLED=0 go_install "$dir" "$m/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION" \
    -tags "$tags no_grpc" -ldflags "$ld"
}

build_pause() {
  local dir=$AIDETECT_BIN/pause-v$KUBE_VERSION
  if [ -x "$dir/pause" ]; then log "pause present at $dir/pause"; return; fi
  local src
  src=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | python3 -c 'import sys,json;print(json.load(sys.stdin)["Dir"])')
  log "compiling pause from $src/build/pause/linux/pause.c"
  mkdir -p "$dir"
  local ver; ver=$(sed -n 's/^TAG ?= *//p' "$src/build/pause/Makefile")
  gcc -Os -Wall -Werror -static -DVERSION="v${ver:-unknown}" -o "$dir/pause.tmp" "$src/build/pause/linux/pause.c"
  strip "$dir/pause.tmp"
  mv "$dir/pause.tmp" "$dir/pause"
  echo "${ver:-unknown}" > "$dir/version"
  log "built $dir/pause (pause $ver)"
}

install_debian_packages
bash "$HACK_DIR/build-control-plane.sh" kube-scheduler kubelet kube-proxy
CGO_ENABLED=1 go_install "$AIDETECT_BIN/runc-v$RUNC_VERSION" "github.com/opencontainers/runc@v$RUNC_VERSION" \
  -tags seccomp -ldflags "-s -w -X main.version=$RUNC_VERSION -X main.gitCommit=v$RUNC_VERSION"
build_containerd
CGO_ENABLED=0 go_install "$AIDETECT_BIN/crictl-v$CRICTL_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION" \
  -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION"
CGO_ENABLED=0 go_install "$AIDETECT_BIN/coredns-v$COREDNS_VERSION" "github.com/coredns/coredns@v$COREDNS_VERSION" \
  -ldflags "-s -w"
build_pause
log "node binaries ready in $AIDETECT_BIN"
