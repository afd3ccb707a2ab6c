#!/usr/bin/env bash
# Build helm from its Go module into the cache ($AIDETECT_BIN/helm-v<version>/helm), if missing.
# helm's go.mod has no replace directives, so `go install` works (no Docker, no release download).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE_AIDETECT:-$AIDETECT_CACHE/go/mod}
export GOCACHE=${GOCACHE_AIDETECT:-$AIDETECT_CACHE/go/build}
dir=$AIDETECT_BIN/helm-v$HELM_VERSION
if [ -x "$dir/helm" ]; then log "helm v$HELM_VERSION present at $dir/helm"; exit 0; fi
command -v go >/dev/null || die "go is not installed; install Go >= 1.24 first"
log "building helm v$HELM_VERSION from helm.sh/helm/v3"
mkdir -p "$dir"
t0=$SECONDS
GOBIN=$dir go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
log "built $dir/helm ($(du -h "$dir/helm" | cut -f1)) in $((SECONDS - t0))s"
