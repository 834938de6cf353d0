"""Issue #14: modules a newcomer can read. No application module grows past ~600 lines; split it by concept.

Tests, migrations and the simulator (``shopify_sim/``, which models Shopify, one behaviour per page) are
outside the rule.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
EXEMPT_DIRS = {".venv", "shopify_sim", "tests", "migrations", "node_modules", "staticfiles"}


def oversized_modules(root: Path, limit: int = MAX_LINES) -> dict[str, int]:
    """Return {relative path: line count} of the application modules under ``root`` longer than ``limit``."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in EXEMPT_DIRS and not d.startswith(".")]
        for name in files:
            if not name.endswith(".py"):
                continue
            path = Path(folder) / name
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit:
                found[path.relative_to(root).as_posix()] = lines
    return found


def test_no_application_module_is_over_600_lines():
    assert oversized_modules(ROOT) == {}, "split these modules by concept (one module per concept, ~450 lines)"


def test_the_check_finds_a_long_module(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "app" / "small.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "big_test_helper.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert oversized_modules(tmp_path) == {"app/big.py": MAX_LINES + 1}
