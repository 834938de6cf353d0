#!/usr/bin/env bash
# The test command: venv + requirements, PostgreSQL and Redis up, ruff, then the whole pytest suite on PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/services.sh"
# The browser tests drive Debian's Chromium with Playwright; install it once if it is missing.
if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
      || { echo "ERROR: could not install chromium (apt-get failed); the browser tests need it." >&2; exit 2; }
  else
    echo "ERROR: chromium is missing and cannot be installed here (needs root and apt-get)." >&2; exit 2
  fi
fi
# A free lane: this copy's own test database and Redis databases, so another copy can run beside it.
source "$ROOT/scripts/lane.sh"
echo "ruff check ."
ruff check .
echo "lint-imports (the layers: pyproject.toml [tool.importlinter])"
lint-imports --no-cache
python -m pytest "$@"
