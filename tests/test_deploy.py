"""Production settings pass Django's deployment checks, and refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
PROD_SECRET = "x" * 20 + "-production-secret-key-with-enough-entropy-1234567890"
# What the test settings put in the environment; production sets its own.
TEST_ONLY = {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_KEY",
             "SHOPIFY_ALLOW_BASE_URL_OVERRIDE", "DJANGO_SETTINGS_MODULE"}


def run_check(*args, debug: str | None = "0", **env):
    # The browser tests allow async-unsafe ORM calls in this process; production must not inherit that.
    inherited = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    full = {**inherited, "ALLOWED_HOSTS": "pim.example.com", **env}
    if debug is not None:
        full["DEBUG"] = debug
    return subprocess.run([sys.executable, "manage.py", "check", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = run_check("--deploy", "--fail-level", "WARNING", SECRET_KEY=PROD_SECRET,
                       FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = run_check(SECRET_KEY="", FIELD_ENCRYPTION_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_warns_about_the_simulator_override():
    result = run_check("--deploy", "--fail-level", "WARNING", SECRET_KEY=PROD_SECRET,
                       FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(), SHOPIFY_ALLOW_BASE_URL_OVERRIDE="1")
    assert result.returncode != 0
    assert "channels.W001" in result.stderr + result.stdout
