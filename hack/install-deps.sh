#!/usr/bin/env bash
# Install everything aidetect needs on a Debian machine, skipping what is already there:
#   - Debian packages: postgresql, rabbitmq-server (not started: hack/ starts private instances);
#   - the Python virtualenv in the cache ($AIDETECT_VENV) with aidetect[dev,worker];
#   - etcd, kube-apiserver, kube-controller-manager, helm and SeaweedFS's weed (the local S3
#     server) built from Go modules into the cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

apt_missing=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_missing+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_missing+=(postgresql)
command -v curl >/dev/null || apt_missing+=(curl)
command -v openssl >/dev/null || apt_missing+=(openssl)
command -v chromium >/dev/null || apt_missing+=(chromium)  # tests/e2e/test_browser.py
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${apt_missing[*]}"
  [ "$(id -u)" = 0 ] || die "installing ${apt_missing[*]} needs root (or install them yourself)"
  apt-get update -qq
  # The packages' own services must not start: policy-rc.d (if any) or the lack of systemd stops them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
else
  log "Debian packages present (postgresql, rabbitmq-server)"
fi

if [ ! -x "$AIDETECT_VENV/bin/python" ]; then
  log "creating virtualenv $AIDETECT_VENV"
  python3 -m venv "$AIDETECT_VENV"
  "$AIDETECT_VENV/bin/pip" install -q --upgrade pip
fi
# Reinstall only when pyproject.toml or the checkout changed (an editable install points at one checkout).
stamp=$AIDETECT_VENV/.aidetect-stamp
want="$REPO_ROOT $(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing aidetect[dev,worker] into $AIDETECT_VENV (pip's download cache is reused)"
  "$AIDETECT_VENV/bin/pip" install -q -e "$REPO_ROOT[dev,worker]"
  echo "$want" > "$stamp"
else
  log "virtualenv up to date: $AIDETECT_VENV"
fi

bash "$HACK_DIR/build-control-plane.sh"
bash "$HACK_DIR/build-helm.sh"
bash "$HACK_DIR/build-s3.sh"
