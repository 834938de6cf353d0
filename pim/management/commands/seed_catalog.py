"""Generate a realistic sample catalog: ``manage.py seed_catalog --products 10000 --seed 1``."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pim.catalog_seed import catalog_seed


class Command(BaseCommand):
    help = "Generate a sample catalog (apparel with colours and sizes, simple products, images, attributes)."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=200, help="how many products to add (default 200)")
        parser.add_argument("--seed", type=int, default=1, help="random seed, for a repeatable catalog")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    def handle(self, *args, products: int, seed: int, batch_size: int, no_progress: bool, **options):
        if products < 1:
            raise CommandError("--products must be at least 1.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        started = time.monotonic()
        with tqdm(total=products, unit="product", disable=no_progress, file=self.stdout) as bar:
            result = catalog_seed(products=products, seed=seed, batch_size=batch_size, progress=bar.update)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.products} products, {result.variants} variants, {result.images} images and "
                f"{result.attributes} attributes in {elapsed:.1f}s."
            )
        )
