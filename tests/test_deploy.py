"""Production settings pass Django's deployment checks, and refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_check(**env):
    # The browser tests allow async-unsafe ORM calls in this process; production must not inherit that.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full = {**inherited, "DEBUG": "0", "ALLOWED_HOSTS": "pim.example.com", **env}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=full, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    from cryptography.fernet import Fernet

    result = run_check(SECRET_KEY="x" * 20 + "-production-secret-key-with-enough-entropy-1234567890",
                       FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = run_check(SECRET_KEY="", FIELD_ENCRYPTION_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
