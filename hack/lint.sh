#!/usr/bin/env bash
# `make lint`: ruff, mypy (strict) and import-linter's layer contracts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
log "ruff check"; ruff check .
log "ruff format --check"; ruff format --check .
log "mypy"; mypy
log "import-linter"; lint-imports
