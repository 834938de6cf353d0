"""RQ task of the outbox: the drain of one lane (takes the lane's name; running it twice is harmless)."""

from __future__ import annotations


def outbox_drain(lane: str) -> str:
    """Run due rows of every kind on ``lane`` until the budget is spent (queue ``lane``)."""
    from .services import outbox_drain as drain

    return f"executed {drain(lane=lane)} row(s)"
