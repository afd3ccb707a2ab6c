#!/usr/bin/env bash
# Build helm from its Go module into the cache ($AIDETECT_BIN/helm-v<version>/helm), if missing.
# helm's go.mod has no replace directives, so `go install` works (no Docker, no release download).
# Like helm's own Makefile, the Kubernetes version that `helm template` and `helm lint` assume
# without --kube-version is set at link time from helm's client-go (v0.Y.Z gives 1.Y); without it
# a go-built helm assumes 1.20 and refuses charts whose kubeVersion needs more.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE_AIDETECT:-$AIDETECT_CACHE/go/mod}
export GOCACHE=${GOCACHE_AIDETECT:-$AIDETECT_CACHE/go/build}
dir=$AIDETECT_BIN/helm-v$HELM_VERSION
# The stamp records the link-time Kubernetes version: a helm built without it is rebuilt.
if [ -x "$dir/helm" ] && [ -s "$dir/.kube-version" ]; then
  log "helm v$HELM_VERSION present at $dir/helm (assumes Kubernetes $(cat "$dir/.kube-version"))"; exit 0
fi
command -v go >/dev/null || die "go is not installed; install Go >= 1.24 first"
log "building helm v$HELM_VERSION from helm.sh/helm/v3"
mkdir -p "$dir"
t0=$SECONDS
gomod=$(go mod download -json "helm.sh/helm/v3@v$HELM_VERSION" | python3 -c 'import sys,json;print(json.load(sys.stdin)["GoMod"])')
minor=$(sed -n 's|^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod")
[ -n "$minor" ] || die "cannot read the client-go version from $gomod"
ld="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ld="$ld -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
done
GOBIN=$dir go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
echo "1.$minor" > "$dir/.kube-version"
log "built $dir/helm ($(du -h "$dir/helm" | cut -f1)) in $((SECONDS - t0))s"
