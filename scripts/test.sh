#!/usr/bin/env bash
# The test command: venv + requirements, PostgreSQL and Redis up, ruff, then the whole pytest suite on PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/services.sh"
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/pim}"
# Tests use Redis database 15 so a developer's local queues are never touched.
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
echo "ruff check ."
ruff check .
python -m pytest "$@"
