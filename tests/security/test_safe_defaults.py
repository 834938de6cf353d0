"""Safe defaults: DEBUG is off unless set, and without it the committed development keys are refused."""

from cryptography.fernet import Fernet

from tests.test_deploy import PROD_SECRET, run_check

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE="


def test_debug_is_off_unless_set():
    # No DEBUG in the environment and no keys: production rules apply, so it refuses to start.
    result = run_check(debug=None)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_committed_secret_key_is_refused_without_debug():
    result = run_check(SECRET_KEY=DEV_SECRET_KEY, FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    assert result.returncode != 0
    assert "committed development key" in result.stderr


def test_the_committed_encryption_key_is_refused_without_debug():
    result = run_check(SECRET_KEY=PROD_SECRET, FIELD_ENCRYPTION_KEY=DEV_FIELD_KEY)
    assert result.returncode != 0
    assert "committed development key" in result.stderr
    result = run_check(SECRET_KEY=PROD_SECRET, FIELD_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},{DEV_FIELD_KEY}")
    assert result.returncode != 0


def test_debug_on_still_runs_with_the_development_keys():
    result = run_check(debug="1")
    assert result.returncode == 0, result.stderr
