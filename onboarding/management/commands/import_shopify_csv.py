"""Import a Shopify product CSV export into the PIM: ``manage.py import_shopify_csv products.csv``.

Accepts the legacy (``Handle, Title, Body (HTML)...``) and the 2025 (``Title, URL handle, Description...``)
header sets. The whole file is validated first; by default any bad row stops the import with its line number
and reason, and nothing is written; with ``--skip-invalid`` every valid product is imported and each invalid
one is reported with its line and reason. Products already in the PIM (same handle and SKUs) are left alone.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from onboarding import outcomes, services
from onboarding.cli import Progress, summary_lines

from .reconcile_store import _store


class Command(BaseCommand):
    help = "Import the products of a Shopify product CSV export that the PIM does not have yet."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the CSV file exported from Shopify")
        parser.add_argument("--store", help="store whose handles (handle overrides) to match against")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, import nothing")
        parser.add_argument("--allow-zero-price", action="store_true",
                            help="import products with variants priced 0 (marked 'allow zero price')")
        parser.add_argument("--skip-invalid", action="store_true",
                            help="import every valid product and report each invalid one with its line and reason "
                                 "(default: all or nothing)")
        parser.add_argument("--location", default="",
                            help="PIM location for the CSV's inventory quantities (default: the store's default "
                                 "mapped location)")
        parser.add_argument("--report", type=Path, help="report path without extension")
        parser.add_argument("--no-progress", action="store_true", help="do not draw progress bars")

    def handle(self, *args, file: Path, **options):
        store = _store(options["store"]) if options["store"] else None
        progress = Progress(file=self.stderr, disable=options["no_progress"])
        try:
            result = services.shopify_csv_reconcile(
                path=file, store=store, import_missing=not options["dry_run"],
                allow_zero_price=options["allow_zero_price"], skip_invalid=options["skip_invalid"],
                location_name=options["location"],
                report_base=options["report"], progress=progress,
            )
        except outcomes.CsvImportError as exc:
            progress.close()
            if exc.report is not None:
                self.stdout.write("\n".join(summary_lines(exc.report)))
            raise CommandError(str(exc))
        except outcomes.OnboardingError as exc:
            raise CommandError(str(exc))
        finally:
            progress.close()
        self.stdout.write("\n".join(summary_lines(result)))
        imported = result.actions.get(outcomes.IMPORTED, 0)
        if options["dry_run"]:
            self.stdout.write(self.style.WARNING("Dry run: nothing was imported."))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Imported {imported} product(s). Run 'manage.py reconcile_store --store NAME --apply' to bind them "
                "to the store's existing products."
            ))
