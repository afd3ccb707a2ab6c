#!/usr/bin/env bash
# Build SeaweedFS's `weed` (the S3 server of hack/s3.sh) from its Go module into the cache
# ($AIDETECT_BIN/seaweedfs-<version>/weed), if missing.
# seaweedfs's go.mod has a replace directive (the deleted github.com/tyler-smith/go-bip39 =>
# its cosmos fork), so `go install pkg@version` refuses it: a wrapper module requires
# github.com/seaweedfs/seaweedfs and repeats its replace lines (those naming a module version).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE_AIDETECT:-$AIDETECT_CACHE/go/mod}
export GOCACHE=${GOCACHE_AIDETECT:-$AIDETECT_CACHE/go/build}
dir=$AIDETECT_BIN/seaweedfs-$SEAWEEDFS_VERSION
if [ -x "$dir/weed" ]; then log "seaweedfs $SEAWEEDFS_VERSION present at $dir/weed"; exit 0; fi
command -v go >/dev/null || die "go is not installed; install Go >= 1.24 first"
log "building weed $SEAWEEDFS_VERSION from github.com/seaweedfs/seaweedfs (several minutes)"
mkdir -p "$dir"
t0=$SECONDS
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
(
  cd "$w"
  go mod init aidetect-seaweedfs >/dev/null 2>&1
  gomod=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | python3 -c 'import sys,json;print(json.load(sys.stdin)["GoMod"])')
  sed -n 's|^replace[[:space:]]*\([^ ]*\) => \([^ ./][^ ]*\) \(v[^ ]*\)$|\1=\2@\3|p' "$gomod" | while read -r r; do
    go mod edit -replace="$r"
  done
  go get "github.com/seaweedfs/seaweedfs/weed@$SEAWEEDFS_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$dir/weed.tmp" github.com/seaweedfs/seaweedfs/weed
)
mv "$dir/weed.tmp" "$dir/weed"
log "built $dir/weed ($(du -h "$dir/weed" | cut -f1)) in $((SECONDS - t0))s"
