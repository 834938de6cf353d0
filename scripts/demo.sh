#!/usr/bin/env bash
# The main job: venv + requirements, PostgreSQL and Redis up, then the demo against the Shopify simulator.
# The demo owns PostgreSQL database pim_demo (recreated each run) and Redis database 2 (flushed each run).
# (A web server, two workers and two sweepers write at once: PostgreSQL, not SQLite, is the demo's database.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/services.sh"
export REDIS_URL="${DEMO_REDIS_URL:-redis://127.0.0.1:6379/2}"
python - <<'PY'
import os, redis
redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
PY
if [ -z "${DATABASE_URL:-}" ]; then
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS pim_demo WITH (FORCE)" -c "CREATE DATABASE pim_demo" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/pim_demo"
fi
exec python manage.py demo "$@"
