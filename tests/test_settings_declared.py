"""Every setting a module reads is declared in config/settings.py (with its default) and named in README.md.

Reads are found in the source: ``settings.X``, ``getattr(settings, "X", ...)`` / ``hasattr(settings, "X")`` and the
``_setting("X", default)`` helpers some modules use. Django's own settings (``django.conf.global_settings``) have
Django's defaults and need neither.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import global_settings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pim", "outbox", "channels", "webhooks", "inventory", "conflicts", "onboarding", "demo", "config", "shopify_sim", "bench")
HELPERS = {"_setting", "setting"}


def settings_read(source: str) -> set[str]:
    """Return the setting names ``source`` reads."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "settings"
                and node.attr.isupper()):
            names.add(node.attr)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if name in HELPERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
            elif (name in ("getattr", "hasattr") and len(node.args) >= 2 and isinstance(first, ast.Name)
                  and first.id == "settings" and isinstance(node.args[1], ast.Constant)):
                names.add(node.args[1].value)
    return names


def declared() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()}
    return names


def reads() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or (package == "config" and path.name.startswith("settings")):
                continue
            for name in settings_read(path.read_text()):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_every_kind_of_read():
    source = ('from django.conf import settings\n'
              'a = settings.ALPHA_SECONDS\n'
              'b = getattr(settings, "BETA_URL", "")\n'
              'c = _setting("GAMMA_LIMIT", 10)\n'
              'd = settings.configured\n')
    assert settings_read(source) == {"ALPHA_SECONDS", "BETA_URL", "GAMMA_LIMIT"}


def test_every_setting_read_is_declared_with_a_default():
    ours = declared()
    missing = {name: where for name, where in reads().items()
               if name not in ours and not hasattr(global_settings, name)}
    assert not missing, f"read but not declared in config/settings.py: {missing}"


def test_every_setting_read_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = {name: where for name, where in reads().items()
               if not hasattr(global_settings, name) and not re.search(rf"\b{name}\b", readme)}
    assert not missing, f"read but not named in README.md: {missing}"
