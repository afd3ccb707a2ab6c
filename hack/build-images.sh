#!/usr/bin/env bash
# Build the local node's images with buildah, with no registry, into a private store in the cache:
#   localhost/aidetect-base:bookworm   a Debian bookworm rootfs from Debian packages (mmdebstrap)
#   localhost/aidetect:local           the Dockerfile's slim target (operator, API, helm test)
#   localhost/aidetect:local-worker    the Dockerfile's worker target (torch from a cached wheelhouse)
#   localhost/aidetect-postgres:15     stand-ins for the official images, from Debian's packages
#   localhost/aidetect-rabbitmq:3.10   (hack/images/*.Dockerfile; the chart defaults stay official)
#   localhost/coredns:<v>, localhost/pause:<v>   single-binary images from hack/build-node.sh
# buildah's layer cache lives in the store, so only what changed is rebuilt. Every image is then
# written as an OCI archive to $AIDETECT_IMAGES/archives, which hack/node.sh imports.
#   hack/build-images.sh [IMAGE...]   (default: all; names as in the first column, without tag)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

IMG=${AIDETECT_IMAGES:-$AIDETECT_CACHE/images}
ARCHIVES=$IMG/archives
WHEELS=$IMG/wheels
mkdir -p "$IMG/storage" "$IMG/run" "$ARCHIVES" "$WHEELS" "$IMG/rootfs"
bah() { buildah --root "$IMG/storage" --runroot "$IMG/run" --storage-driver overlay "$@"; }
command -v buildah >/dev/null && command -v mmdebstrap >/dev/null || bash "$HACK_DIR/build-node.sh"

BASE=localhost/aidetect-base:bookworm

# Debian's own sources on this machine (their Signed-By names Debian's archive key), so the rootfs
# and apt inside the images use the same mirrors as the host.
debian_sources() {
  local f found=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q 'debian-archive-keyring' "$f" && found+=("$f")
  done
  [ ${#found[@]} -gt 0 ] || die "no Debian apt sources (Signed-By: debian-archive-keyring) in /etc/apt"
  echo "${found[@]}"
}

build_base() {
  local tar=$IMG/rootfs/base-bookworm.tar key sources
  local pkgs=python3.11,python3.11-venv,ca-certificates
  sources=$(debian_sources)
  # shellcheck disable=SC2086
  key=$(echo "$pkgs $(cat $sources | sha256sum)" | sha256sum | cut -c1-16)
  if [ "$(bah inspect --type image --format '{{index .ImageAnnotations "aidetect.base-key"}}' "$BASE" 2>/dev/null)" = "$key" ]; then
    log "$BASE is up to date"; return
  fi
  log "mmdebstrap: Debian bookworm minbase with $pkgs"
  local t0=$SECONDS
  # merged-usr as Debian 12 has it, without usrmerge's perl; no docs, man pages or locales.
  mmdebstrap --quiet --variant=minbase --include="$pkgs" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$tar.part.tar" $sources
  mv "$tar.part.tar" "$tar"
  local c; c=$(bah from scratch)
  bah add "$c" "$tar" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --annotation "aidetect.base-key=$key" --cmd /bin/bash "$c"
  bah commit --rm "$c" "$BASE" >/dev/null
  rm -f "$tar"
  log "built $BASE in $((SECONDS - t0))s"
}

# The worker's dependencies, downloaded once with the host's pip and mounted into the build with
# pip set to no-index: torch (several GB with its CUDA wheels) is never downloaded twice.
fill_wheelhouse() {
  [ -z "${wheelhouse_checked:-}" ] || return 0
  wheelhouse_checked=1
  local reqs want; reqs=$(python3 - "$REPO_ROOT/pyproject.toml" <<'PY'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))
print("\n".join(p["build-system"]["requires"] + ["wheel"] + p["project"]["dependencies"]
                + p["project"]["optional-dependencies"]["worker"]))
PY
)
  want=$(echo "$reqs" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$WHEELS/.stamp" 2>/dev/null)" = "$want" ]; then log "wheelhouse up to date: $WHEELS"; return; fi
  log "filling the wheelhouse $WHEELS from pyproject.toml (dependencies, worker extra, build backend)"
  local t0=$SECONDS
  # The host's Python is the images' (3.11 on glibc x86_64), so its pip picks the same files.
  # shellcheck disable=SC2086
  "$AIDETECT_VENV/bin/pip" download --quiet --dest "$WHEELS" $(echo "$reqs" | tr '\n' ' ') >&2
  echo "$want" > "$WHEELS/.stamp"
  log "wheelhouse filled in $((SECONDS - t0))s ($(du -sh "$WHEELS" | cut -f1))"
}

build_dockerfile() {  # build_dockerfile TARGET TAG
  local target=$1 tag=$2 t0=$SECONDS conf
  fill_wheelhouse
  conf=$(mktemp); printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\nno-index = true\nfind-links = /wheels\n' > "$conf"
  log "buildah: Dockerfile target $target -> $tag"
  # chroot isolation: the default runtime refuses this machine's hybrid cgroups. buildah 1.28 does
  # not expand ARG defaults when it picks stages, so BASE is always passed.
  bah bud --quiet --layers --isolation chroot --pull=never --target "$target" \
    --build-arg BASE=cpu --build-arg PYTHON_IMAGE="$BASE" --build-arg VERSION=local \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -v "$conf:/etc/pip.conf:ro" -v "$WHEELS:/wheels:ro" \
    -t "$tag" -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >/dev/null
  rm -f "$conf"
  log "built $tag in $((SECONDS - t0))s"
}

build_service() {  # build_service NAME TAG: hack/images/NAME.Dockerfile on the local base
  local name=$1 tag=$2 t0=$SECONDS
  log "buildah: hack/images/$name.Dockerfile -> $tag"
  bah bud --quiet --layers --isolation chroot --pull=never --build-arg BASE_IMAGE="$BASE" \
    -t "$tag" -f "$HACK_DIR/images/$name.Dockerfile" "$HACK_DIR/images" >/dev/null
  log "built $tag in $((SECONDS - t0))s"
}

build_binary_image() {  # build_binary_image TAG BINARY ENTRYPOINT_JSON
  local tag=$1 bin=$2 entry=$3
  if bah inspect --type image "$tag" >/dev/null 2>&1; then log "$tag is up to date"; return; fi
  [ -x "$bin" ] || die "$bin is missing: run hack/build-node.sh"
  local c; c=$(bah from scratch)
  bah copy "$c" "$bin" "/$(basename "$bin")" >/dev/null
  bah config --entrypoint "$entry" --user 65532:65532 "$c"
  bah commit --rm "$c" "$tag" >/dev/null
  log "built $tag"
}

# Writes the image as an OCI archive when its image id changed since the last export.
export_archive() {
  local tag=$1 file id
  file=$ARCHIVES/$(echo "$tag" | tr '/:' '__').tar
  id=$(bah inspect --type image --format '{{.FromImageID}}' "$tag")
  if [ -f "$file" ] && [ "$(cat "$file.id" 2>/dev/null)" = "$id" ]; then return; fi
  local t0=$SECONDS
  rm -f "$file" "$file.id"
  bah push --quiet --disable-compression "$tag" "oci-archive:$file:$tag" >/dev/null
  echo "$id" > "$file.id"
  log "exported $tag ($(du -h "$file" | cut -f1)) in $((SECONDS - t0))s"
}

want=${*:-"base aidetect aidetect-worker postgres rabbitmq coredns pause"}
build_base
for image in $want; do
  case $image in
    base) ;;
    aidetect) build_dockerfile slim localhost/aidetect:local; export_archive localhost/aidetect:local ;;
    aidetect-worker) build_dockerfile worker localhost/aidetect:local-worker
      export_archive localhost/aidetect:local-worker ;;
    postgres) build_service postgres localhost/aidetect-postgres:15; export_archive localhost/aidetect-postgres:15 ;;
    rabbitmq) build_service rabbitmq localhost/aidetect-rabbitmq:3.10; export_archive localhost/aidetect-rabbitmq:3.10 ;;
    coredns) build_binary_image "localhost/coredns:$COREDNS_VERSION" "$AIDETECT_BIN/coredns-v$COREDNS_VERSION/coredns" '["/coredns"]'
      export_archive "localhost/coredns:$COREDNS_VERSION" ;;
    pause) build_binary_image "localhost/pause:$PAUSE_VERSION" "$AIDETECT_BIN/pause-v$KUBE_VERSION/pause" '["/pause"]'
      export_archive "localhost/pause:$PAUSE_VERSION" ;;
    *) die "unknown image $image" ;;
  esac
done
bah images --noheading --filter dangling=false --format '[images] {{.Name}}:{{.Tag}} {{.Size}}' >&2
# No `rmi --prune`: buildah's layer cache is those unnamed images. Leave no working container
# or mount of the store behind.
bah rm --all >/dev/null 2>&1 || true
{ grep -F " $IMG/storage/overlay" /proc/mounts || true; } | cut -d' ' -f2 | sort -r \
  | while read -r m; do umount "$m" 2>/dev/null || true; done
