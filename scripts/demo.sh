#!/usr/bin/env bash
# The main job: venv + requirements, then the demo (SQLite by default; set DATABASE_URL for PostgreSQL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec python manage.py demo "$@"
