"""Fixtures of the fault and load suite: an ``Env`` on the per-test simulator, the test database and a clean
test Redis database (the scenarios start their own workers, sweepers and gunicorn)."""

from __future__ import annotations

import django_rq
import pytest
from django.conf import settings

from tests.e2e.conftest import database_url

from .harness import Env


@pytest.fixture
def fault_env(shopify_sim, transactional_db, tmp_path):
    conn = django_rq.get_connection("default")
    conn.flushdb()
    env = Env(sim=shopify_sim, database_url=database_url(), redis_url=settings.RQ_QUEUES["default"]["URL"],
              log_dir=tmp_path / "logs")
    yield env
    conn.flushdb()
