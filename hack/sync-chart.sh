#!/usr/bin/env bash
# Copy the CRD and the operator's RBAC from crds/ into the chart. The chart keeps real files (no
# symlinks), so that a packaged chart stands on its own; tests/unit/test_chart.py fails on drift.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
for pair in crds/detectiontasks.aidetect.io.yaml:helm/aidetect/crds/detectiontasks.aidetect.io.yaml \
            crds/rbac/operator.yaml:helm/aidetect/files/operator-rbac.yaml; do
  src=${pair%%:*} dst=${pair#*:}
  if cmp -s "$src" "$dst"; then log "$dst is up to date"; else cp "$src" "$dst"; log "copied $src to $dst"; fi
done
