#!/usr/bin/env bash
# Start or stop a private S3-compatible object server (SeaweedFS's `weed server -s3`: master,
# volume server, filer and S3 gateway in one process) on loopback ports, with all state in
# STATE_DIR/s3.
#   hack/s3.sh start STATE_DIR  -> writes STATE_DIR/s3.env (AIDETECT_S3_ENDPOINT, _ACCESS_KEY,
#                                  _SECRET_KEY, _REGION)
#   hack/s3.sh stop  STATE_DIR
# S3 authentication is on: one admin identity (AIDETECT_S3_ACCESS_KEY / AIDETECT_S3_SECRET_KEY,
# default aidetect / aidetect-dev-secret) in STATE_DIR/s3/identities.json; unsigned or wrongly
# signed requests are refused. The S3 port is AIDETECT_S3_PORT if set (make up: 8333), else
# free_port, as are the master, volume and filer ports and all four gRPC ports (weed's default,
# port+10000, could be anything). weed's pid is in STATE_DIR/s3/weed.pid; stop kills exactly it
# (SIGTERM, SIGKILL after 3 s) and removes STATE_DIR/s3: nothing survives a stop.
# Needs $AIDETECT_BIN/seaweedfs-$SEAWEEDFS_VERSION/weed (hack/build-s3.sh) and boto3 (the venv).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: s3.sh start|stop STATE_DIR}
state=${2:?usage: s3.sh start|stop STATE_DIR}
WEED=$AIDETECT_BIN/seaweedfs-$SEAWEEDFS_VERSION/weed
dir=$state/s3

pid_in() { cat "$dir/$1" 2>/dev/null || true; }

start() {
  [ -x "$WEED" ] || die "weed not found at $WEED (build it: hack/build-s3.sh)"
  local pid; pid=$(pid_in weed.pid)
  if [ -f "$state/s3.env" ] && [ -n "$pid" ] && alive "$pid"; then
    log "s3 already running in $dir (weed pid $pid)"; return
  fi
  rm -rf "$dir"; mkdir -p "$dir/data"
  local key=${AIDETECT_S3_ACCESS_KEY:-aidetect} secret=${AIDETECT_S3_SECRET_KEY:-aidetect-dev-secret}
  local port=${AIDETECT_S3_PORT:-$(free_port)}
  local master volume filer master_grpc volume_grpc filer_grpc s3_grpc
  master=$(free_port); volume=$(free_port); filer=$(free_port)
  master_grpc=$(free_port); volume_grpc=$(free_port); filer_grpc=$(free_port); s3_grpc=$(free_port)
  # weed puts its in-process gRPC sockets in /tmp, named by port: stop removes exactly these.
  echo "$master_grpc $volume_grpc $filer_grpc $s3_grpc" > "$dir/grpc-ports"
  ( umask 077
    python3 -c 'import json, sys; print(json.dumps({"identities": [{"name": "admin",
      "credentials": [{"accessKey": sys.argv[1], "secretKey": sys.argv[2]}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, indent=2))' "$key" "$secret" \
      > "$dir/identities.json" )
  log "s3: starting weed $SEAWEEDFS_VERSION on 127.0.0.1:$port (master $master, volume $volume, filer $filer)"
  # One volume per new collection (a bucket is one) instead of 7, 64 MB volumes, at most 64:
  # a few MB of memory per bucket, and a test session's many small buckets fit. GOMEMLIMIT makes
  # Go's GC keep the heap near 96 MiB (RSS ~120 MB idle, ~160 MB at peak under the tests).
  (
    cd "$dir"
    export WEED_MASTER_VOLUME_GROWTH_COPY_1=1 GOMEMLIMIT=${AIDETECT_S3_GOMEMLIMIT:-96MiB}
    spawn_in "$dir" weed "$WEED" -logtostderr=true \
      server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
      -master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
      -master.volumeSizeLimitMB=64 -volume.max=64 \
      -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.preStopSeconds=0 \
      -filer.port="$filer" -filer.port.grpc="$filer_grpc" -filer.localSocket="$dir/filer.sock" \
      -s3 -s3.port="$port" -s3.port.grpc="$s3_grpc" -s3.port.iceberg=0 -s3.port.lance=0 \
      -s3.localSocket="$dir/s3.sock" -s3.config="$dir/identities.json"
  )
  printf 'export AIDETECT_S3_ENDPOINT=http://127.0.0.1:%s AIDETECT_S3_ACCESS_KEY=%q AIDETECT_S3_SECRET_KEY=%q AIDETECT_S3_REGION=us-east-1\n' \
    "$port" "$key" "$secret" > "$dir/client.env"
  # Ready when a signed request lists the buckets and an object can be written (hack/s3-seed.py).
  wait_for "s3" 90 "$dir/weed.log" "$(pid_in weed.pid)" -- \
    bash -c ". '$dir/client.env' && exec python3 '$HACK_DIR/s3-seed.py' ready" \
    || { stop; die "s3 did not start"; }
  mv "$dir/client.env" "$state/s3.env"
  log "s3: ready at http://127.0.0.1:$port (access key $key; weed pid $(pid_in weed.pid))"
}

stop() {
  [ -d "$dir" ] || { log "s3: nothing to stop in $dir"; return; }
  # weed's graceful shutdown stops its volume server before its filer, whose last metadata-log
  # flush then waits 15 s for a volume it cannot get. The data is removed below anyway: 3 s.
  stop_pidfile s3 "$dir/weed.pid" 3
  local p name
  for p in $(cat "$dir/grpc-ports" 2>/dev/null); do
    for name in master volume filer s3; do rm -f "/tmp/seaweedfs-$name-grpc-$p.sock"; done
  done
  rm -rf "$dir" "$state/s3.env"
}

case $cmd in start) start ;; stop) stop ;; *) die "unknown command $cmd" ;; esac
