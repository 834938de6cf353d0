"""The README's main job, played headless: every step of the story must be observed."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[1]
# The lane the test command took (scripts/lane.sh): another copy of the suite uses other names.
DEMO_DB = os.environ.get("DEMO_TEST_DATABASE", "pim_demo_test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(960)
def test_demo_headless_story_passes():
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c",
                    f"DROP DATABASE IF EXISTS {DEMO_DB} WITH (FORCE)", "-c", f"CREATE DATABASE {DEMO_DB}"],
                   check=True, capture_output=True)
    redis_url = os.environ.get("DEMO_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
    redis.Redis.from_url(redis_url).flushdb()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DEMO_DB}", REDIS_URL=redis_url)
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--headless", "--addr", f"127.0.0.1:{free_port()}", "--products", "24"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Every step of the story behaved as expected." in output
    assert "✗" not in result.stdout
    for step in ("a conflict records the merchant's title", "PIM stock dropped from 20 to 17",
                 "south now offers 17", "south caught up when it answered again", "no duplicates"):
        assert step in result.stdout, step
