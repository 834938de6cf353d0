"""The services' clock (pim/clock.py): real time unless a test moves it; services decide on it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from pim.clock import clock_advance, clock_freeze, clock_now, clock_reset


def test_real_time_by_default_then_advanced_then_frozen_then_back():
    assert abs((clock_now() - timezone.now()).total_seconds()) < 60
    ahead = clock_advance(seconds=3600)
    assert ahead - timezone.now() > timedelta(minutes=59)
    frozen = clock_freeze()
    assert clock_now() == frozen == clock_now()
    assert clock_advance(seconds=5) == frozen + timedelta(seconds=5)
    clock_reset()
    assert abs((clock_now() - timezone.now()).total_seconds()) < 60
