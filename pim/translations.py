"""Product content per locale (issue 19): the hook through which the stores learn that translations changed.

``pim`` may not import ``channels``; ``channels`` registers a function in ``AppConfig.ready()`` that records the
translation jobs. Called inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

_hooks: dict[str, Callable[..., None]] = {}


def translation_changes_hook_register(*, name: str, hook: Callable[..., None]) -> None:
    """Register (or replace) a function told ``product_ids=[...]`` whose translations changed."""
    _hooks[name] = hook


def translations_changed(*, product_ids: Iterable[int]) -> None:
    """Tell the registered hooks that these products' translations may have changed."""
    ids = sorted(set(product_ids))
    if ids:
        for hook in _hooks.values():
            hook(product_ids=ids)
