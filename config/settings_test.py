"""Settings for the test suite: the project's settings with what the tests need turned on.

The tests run the admin over plain HTTP against the local Shopify simulator, so DEBUG and the simulator's base
URL override are on. The keys are made per test session (never the committed development keys), and set in
the environment so the worker processes the tests start share them.
"""

from __future__ import annotations

import os
import secrets

from cryptography.fernet import Fernet

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SHOPIFY_ALLOW_BASE_URL_OVERRIDE", "1")
os.environ.setdefault("SECRET_KEY", "test-" + secrets.token_urlsafe(40))
if not (os.environ.get("FIELD_ENCRYPTION_KEYS") or os.environ.get("FIELD_ENCRYPTION_KEY")):
    os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()

from config.settings import *  # noqa: E402, F403

# A Shopify call or alert post inside a database transaction fails the test (channels/shopify/netguard.py).
NETWORK_IN_TRANSACTION_CHECK = env_bool("NETWORK_IN_TRANSACTION_CHECK", True)  # noqa: F405
