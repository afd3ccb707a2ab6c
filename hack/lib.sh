# Shared helpers for hack/ scripts: logging, free ports, bounded waits, cache locations.
# Sourced, never executed.

AIDETECT_CACHE=${AIDETECT_CACHE:-$HOME/.cache/aidetect}
AIDETECT_BIN=${AIDETECT_BIN:-$AIDETECT_CACHE/bin}
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HACK_DIR/.." && pwd)
# shellcheck source=versions.env
. "$HACK_DIR/versions.env"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }  # random_hex BYTES

# free_port [OWNER_DIR]: a port for a local service, claimed for OWNER_DIR (default: $state, the
# stack's state dir). It comes from AIDETECT_PORT_RANGE (20000-29999), never from the kernel's
# ephemeral range, so a service that is killed can always bind its own port again: see
# hack/free_port.py for why, and for how claims are released (with the state dir).
free_port() {
  python3 "$HACK_DIR/free_port.py" "${1:-${state:?free_port needs OWNER_DIR or \$state}}"
}

# wait_for DESCRIPTION SECONDS LOGFILE PID -- COMMAND...
# Polls COMMAND until it succeeds; fails with the tail of LOGFILE on timeout or when PID dies.
wait_for() {
  local what=$1 secs=$2 logf=$3 pid=$4; shift 5
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! alive "$pid"; then
      log "$what: process $pid exited; last lines of $logf:"; tail -40 "$logf" >&2 || true; return 1
    fi
    if [ $SECONDS -ge $end ]; then
      log "$what: not ready after ${secs}s; last lines of $logf:"; tail -40 "$logf" >&2 || true; return 1
    fi
    sleep 0.5
  done
}

# spawn_in DIR NAME CMD...: run CMD detached in its own session, log DIR/NAME.log, pid DIR/NAME.pid.
spawn_in() {
  local d=$1 name=$2; shift 2
  setsid "$@" </dev/null >"$d/$name.log" 2>&1 & echo $! > "$d/$name.pid"
}

# alive PID: the process exists and is not a zombie. Detached processes are re-parented to pid 1,
# which may never reap them, and `kill -0` succeeds on a zombie.
alive() {
  local st
  st=$(ps -o stat= -p "${1:?alive PID}" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

# wait_gone PID SECONDS: until the process has exited (or is a zombie); fails if it has not.
wait_gone() {
  local end=$((SECONDS + $2))
  while alive "$1" && [ $SECONDS -lt "$end" ]; do sleep 0.25; done
  ! alive "$1"
}

# terminate PID [SECONDS]: SIGTERM the process, wait up to SECONDS (10) for it to exit, then
# SIGKILL it and wait up to 5 s more, so that its ports are free when this returns.
terminate() {
  local pid=${1:?terminate PID} secs=${2:-10}
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" "$secs" && return 0
  log "pid $pid still running after ${secs}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 5 || true
}

# stop_pidfile NAME PIDFILE [SECONDS]: `terminate` the process of PIDFILE, if it is running.
stop_pidfile() {
  local name=$1 file=$2 secs=${3:-10} pid
  pid=$(cat "$file" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid" || return 0
  log "stopping $name (pid $pid)"
  terminate "$pid" "$secs"
}

# The local node's network and names (make cluster-up), in one place for every script.
SERVICE_CIDR=10.0.0.0/24     # the apiserver's --service-cluster-ip-range, under make up too
CLUSTER_DNS=10.0.0.10        # CoreDNS's Service IP, inside SERVICE_CIDR
POD_CIDR=${AIDETECT_POD_CIDR:-10.244.0.0/24}
DEFAULT_NODE_IP=10.244.0.1   # the pod bridge's address, which is also the node IP
NODE_NAME=${AIDETECT_NODE_NAME:-aidetect-node}
# The pause binary's version, written by hack/build-node.sh beside it; names the sandbox image.
PAUSE_VERSION=$(cat "$AIDETECT_BIN/pause-v$KUBE_VERSION/version" 2>/dev/null || echo missing)

# The project's virtualenv lives in the cache too (torch is several GB): reuse it across clones.
AIDETECT_VENV=${AIDETECT_VENV:-$AIDETECT_CACHE/venv}
[ -d "$AIDETECT_VENV/bin" ] && PATH=$AIDETECT_VENV/bin:$PATH
PATH=$AIDETECT_BIN/helm-v$HELM_VERSION:$PATH  # built by hack/build-helm.sh
export PATH
# The virtualenv is shared by every checkout on the machine, so the checkout that runs a command
# must come first on the import path, whatever the editable install last pointed at.
export PYTHONPATH=$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}
