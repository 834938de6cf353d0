"""The old name of ``outbox_sweeper`` (issue 14: one sweeper covers every kind of durable work)."""

from outbox.management.commands.outbox_sweeper import Command  # noqa: F401
