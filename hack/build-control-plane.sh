#!/usr/bin/env bash
# Build etcd, kube-apiserver and kube-controller-manager from Go modules into the cache
# ($AIDETECT_BIN, default ~/.cache/aidetect/bin). Builds only what is missing.
#   hack/build-control-plane.sh [EXTRA_K8S_BINARY...]   e.g. kubelet kube-scheduler kube-proxy
# No distribution ships these binaries for us, and Docker is not available, hence Go.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE_AIDETECT:-$AIDETECT_CACHE/go/mod}
export GOCACHE=${GOCACHE_AIDETECT:-$AIDETECT_CACHE/go/build}
command -v go >/dev/null || die "go is not installed; install Go >= 1.24 first"

KDIR=$AIDETECT_BIN/kubernetes-v$KUBE_VERSION
EDIR=$AIDETECT_BIN/etcd-v$ETCD_VERSION
mkdir -p "$KDIR" "$EDIR"

build_etcd() {
  if [ -x "$EDIR/etcd" ]; then log "etcd v$ETCD_VERSION present at $EDIR/etcd"; return; fi
  log "building etcd v$ETCD_VERSION (server/go.mod has replace lines, so wrap etcdmain)"
  local w; w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  (
    cd "$w"
    go mod init aidetect-etcd >/dev/null 2>&1
    printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go mod tidy
    go build -trimpath -ldflags "-s -w" -o "$EDIR/etcd.tmp" .
  )
  mv "$EDIR/etcd.tmp" "$EDIR/etcd"
  log "built $EDIR/etcd ($(du -h "$EDIR/etcd" | cut -f1))"
}

build_kubernetes() {
  local missing=()
  for b in kube-apiserver kube-controller-manager "$@"; do
    [ -x "$KDIR/$b" ] || missing+=("$b")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "kubernetes v$KUBE_VERSION binaries present in $KDIR"; return; fi
  log "building ${missing[*]} v$KUBE_VERSION (staging modules replaced by their v0.Y.Z tags)"
  local y z w kmod
  y=$(echo "$KUBE_VERSION" | cut -d. -f2); z=${KUBE_VERSION##*.}
  w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  (
    cd "$w"
    go mod init aidetect-k8s >/dev/null 2>&1
    kmod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | python3 -c 'import sys,json;print(json.load(sys.stdin)["GoMod"])')
    for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*|\1|p' "$kmod"); do
      go mod edit -replace="$m=$m@v0.$y.$z"
    done
    for b in "${missing[@]}"; do go get "k8s.io/kubernetes/cmd/$b@v$KUBE_VERSION"; done
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$y"
    for b in "${missing[@]}"; do
      local t0=$SECONDS
      go build -trimpath -ldflags "$ld" -o "$KDIR/$b.tmp" "k8s.io/kubernetes/cmd/$b"
      mv "$KDIR/$b.tmp" "$KDIR/$b"
      log "built $KDIR/$b ($(du -h "$KDIR/$b" | cut -f1)) in $((SECONDS - t0))s"
    done
  )
}

build_etcd
build_kubernetes "$@"
log "control-plane binaries ready: $EDIR, $KDIR"
