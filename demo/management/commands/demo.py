"""The main job: ``manage.py demo`` plays the whole product against the local Shopify simulator."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from demo.story import Story


class Command(BaseCommand):
    help = ("Start the simulator, the admin, workers and sweepers; seed, reconcile, publish, and play the story "
            "(merchant edit → conflict, orders → stock, outage → catch-up). --headless checks it and exits.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="where the admin listens")
        parser.add_argument("--products", type=int, default=40, help="sample products to seed")
        parser.add_argument("--headless", action="store_true",
                            help="play the story without serving; exit non-zero if a step's outcome is not observed")

    def handle(self, *args, addr: str, products: int, headless: bool, **options):
        story = Story(out=self.stdout, style=self.style, products=products, addr=addr, headless=headless)
        code = story.run()
        if code:
            sys.exit(code)
