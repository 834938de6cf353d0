"""Health lines that apps above ``channels`` add to a store's sync health (the admin page and ``sync_status``).

``channels`` may not import the apps built on it, yet the health page is where an operator looks first. So an app
registers a provider in its ``AppConfig.ready()``: a function of a store that returns ``HealthLine`` rows. The page
and the command show every registered provider's lines under the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .models import Store


@dataclass
class HealthLine:
    label: str
    value: str
    problem: bool = False
    link: str = ""


HealthProvider = Callable[[Store], list[HealthLine]]
_providers: dict[str, HealthProvider] = {}


def health_provider_register(*, name: str, provider: HealthProvider) -> None:
    """Add (or replace) the provider called ``name``; its lines appear under every store's health."""
    _providers[name] = provider


def store_health_lines(*, store: Store) -> list[HealthLine]:
    """Return every registered provider's lines for ``store``, in registration order."""
    lines: list[HealthLine] = []
    for provider in _providers.values():
        lines.extend(provider(store))
    return lines
