"""Reconcile a store's existing Shopify catalog with the PIM: ``manage.py reconcile_store --store NAME``.

Dry run by default (only the report is written). ``--apply`` binds matched products, ``--import-missing``
creates Shopify-only products in the PIM, ``--adopt-shopify-handles`` takes Shopify's handle for products
matched by SKU only. ``--csv FILE`` matches a Shopify product CSV export instead of the live store.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from channels.models import Store
from channels.shopify.exceptions import ShopifyError
from onboarding import outcomes, services
from onboarding.cli import Progress, summary_lines


class Command(BaseCommand):
    help = "Match the store's Shopify catalog to the PIM, report, and (when asked) bind or import products."

    def add_arguments(self, parser):
        parser.add_argument("--store", help="store name or shop domain (required unless --csv)")
        parser.add_argument("--apply", action="store_true", help="bind matched products (otherwise a dry run)")
        parser.add_argument("--import-missing", action="store_true",
                            help="create PIM products from Shopify-only products and bind them")
        parser.add_argument("--adopt-shopify-handles", action="store_true",
                            help="for products matched by SKU only, take Shopify's handle (PIM handle of never "
                                 "published products, else the store handle)")
        parser.add_argument("--allow-zero-price", action="store_true",
                            help="import products with variants priced 0 (marked 'allow zero price')")
        parser.add_argument("--source", choices=outcomes.SOURCES, default="auto",
                            help="bulk operation, page by page, or auto (bulk, falling back to pages)")
        parser.add_argument("--csv", type=Path, help="match this Shopify product CSV export instead of the store")
        parser.add_argument("--skip-invalid", action="store_true",
                            help="import every valid product and report each invalid one with its line and reason "
                                 "(default: all or nothing)")
        parser.add_argument("--location", default="",
                            help="with --csv --import-missing: PIM location for the CSV's inventory quantities")
        parser.add_argument("--report", type=Path,
                            help="report path without extension (default reports/onboarding/reconcile-...)")
        parser.add_argument("--no-progress", action="store_true", help="do not draw progress bars")

    def handle(self, *args, **options):
        if options["skip_invalid"] and options["csv"] is None:
            raise CommandError("--skip-invalid is for --csv imports (a live store's import already goes product by "
                               "product and reports each one it cannot import).")
        store = _store(options["store"]) if options["store"] else None
        if options["csv"] is None and store is None:
            raise CommandError("Say which store to reconcile: --store NAME (or --csv FILE to use a CSV export).")
        if options["csv"] is not None and (options["apply"] or options["adopt_shopify_handles"]):
            raise CommandError(
                "A CSV export has no Shopify ids, so --apply and --adopt-shopify-handles need the live store: "
                "run without --csv."
            )
        progress = Progress(file=self.stderr, disable=options["no_progress"])
        try:
            if options["csv"] is not None:
                result = services.shopify_csv_reconcile(
                    path=options["csv"], store=store, import_missing=options["import_missing"],
                    allow_zero_price=options["allow_zero_price"], skip_invalid=options["skip_invalid"],
                    location_name=options["location"],
                    report_base=options["report"], progress=progress,
                )
            else:
                result = services.store_reconcile(
                    store=store, apply=options["apply"], import_missing=options["import_missing"],
                    adopt_shopify_handles=options["adopt_shopify_handles"],
                    allow_zero_price=options["allow_zero_price"], source=options["source"],
                    report_base=options["report"], progress=progress,
                )
        except outcomes.CsvImportError as exc:
            progress.close()
            if exc.report is not None:
                self.stdout.write("\n".join(summary_lines(exc.report)))
            raise CommandError(str(exc))
        except outcomes.OnboardingError as exc:
            raise CommandError(str(exc))
        except ShopifyError as exc:
            raise CommandError(f"Could not read the Shopify catalog; nothing was written. {exc}")
        finally:
            progress.close()
        self.stdout.write("\n".join(summary_lines(result)))
        if result.dry_run:
            self.stdout.write(self.style.WARNING(
                "Dry run: nothing was changed. Review the report, then run again with --apply "
                "(and --import-missing / --adopt-shopify-handles as needed)."
            ))
        elif options["apply"] or options["import_missing"]:
            name = store.name if store else ""
            self.stdout.write(self.style.SUCCESS(
                f"Done. Publish with 'manage.py publish --store {name} --all': bound products are updated in "
                "place, and every field the publish overwrites is logged as a conflict."
                if store else "Done."
            ))


def _store(ref: str) -> Store:
    store = Store.objects.filter(name=ref).first() or Store.objects.filter(shop_domain=ref).first()
    if store is None:
        raise CommandError(f"No store named '{ref}'.")
    return store
