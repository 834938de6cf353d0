"""Change prices by SKU from a CSV: ``manage.py import_prices FILE`` (dry run) and ``--apply``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from channels.price_import import prices_import


class Command(BaseCommand):
    help = ("Change prices (and compare-at prices) by SKU from a CSV with columns sku, price, compare_at_price and "
            "optionally store; a dry run unless --apply; nothing changes if any line has a problem.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--apply", action="store_true", help="change the prices (default: only report)")

    def handle(self, *args, file: str, apply: bool = False, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file {file}.")
        report = prices_import(text=path.read_text(encoding="utf-8-sig"), apply=apply)
        for change in report.to_change:
            where = f" @ {change.store}" if change.store else ""
            self.stdout.write(f"line {change.line}: {change.sku}{where}: {change.old_price} -> {change.new_price}"
                              + (f", compare-at {change.old_compare} -> {change.new_compare}"
                                 if change.compare_given and change.old_compare != change.new_compare else ""))
        for error in report.errors:
            self.stderr.write(error)
        self.stdout.write(report.summary() + ("" if apply or report.errors else " Dry run: pass --apply to change."))
        if report.errors:
            raise CommandError(f"{len(report.errors)} problem(s) in {file}; nothing was changed.")
