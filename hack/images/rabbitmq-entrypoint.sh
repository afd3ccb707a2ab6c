#!/bin/bash
# Writes rabbitmq.conf from RABBITMQ_DEFAULT_USER / _PASS / _VHOST (as the official image does),
# logs to the console, and sizes the memory alarm from the container's cgroup limit: RabbitMQ 3.10
# reads the machine's memory, not the pod's, and would be OOM-killed before its alarm fired.
set -euo pipefail
if [ "${1:-rabbitmq-server}" != rabbitmq-server ]; then exec "$@"; fi
# A volume's fsGroup may have widened the cookie's mode, which Erlang refuses.
if [ -f "$HOME/.erlang.cookie" ]; then chmod 400 "$HOME/.erlang.cookie"; fi
limit=
for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
  if [ -r "$f" ]; then limit=$(cat "$f"); break; fi
done
{
  echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
  echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
  echo "default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}"
  echo "loopback_users = none"
  echo "log.console = true"
  echo "log.file = false"
  # A cgroup v1 "no limit" is a huge number; only a real limit is used.
  if [[ "$limit" =~ ^[0-9]+$ ]] && [ "$limit" -lt $((1 << 50)) ]; then
    echo "total_memory_available_override_value = $limit"
  fi
} > "$RABBITMQ_CONFIG_FILE"
chmod 600 "$RABBITMQ_CONFIG_FILE"
exec rabbitmq-server
