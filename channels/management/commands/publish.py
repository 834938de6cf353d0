"""Queue publishing: ``manage.py publish --all``, ``--store NAME``, ``--product ID`` or ``--waiting``; ``--wait``
follows progress. ``--dry-run`` previews instead (nothing is written): ``--format csv|json --output PATH``."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from channels import services
from channels.models import Store, SyncJob
from channels.publish_modes import publish_waiting


class Command(BaseCommand):
    help = "Record and dispatch sync jobs for one product, one store, or everything assigned (or preview them)."

    def add_arguments(self, parser):
        parser.add_argument("--store", help="store name or shop domain (default: every active store)")
        parser.add_argument("--product", type=int, action="append", help="product id (repeatable)")
        parser.add_argument("--all", action="store_true", help="every assigned product")
        parser.add_argument("--waiting", action="store_true",
                            help="what waits for a scheduled batch or a publish request (the store's publish mode)")
        parser.add_argument("--wait", action="store_true", help="show progress until the jobs have finished")
        parser.add_argument("--timeout", type=float, default=3600)
        parser.add_argument("--dry-run", action="store_true",
                            help="preview per product and field what Shopify has, what would be written and which "
                                 "would become conflicts; writes nothing (needs --store)")
        parser.add_argument("--format", choices=("csv", "json"), default="csv", help="preview report format")
        parser.add_argument("--output", help="write the preview report to this file (default: standard output)")
        parser.add_argument("--source", choices=("live", "snapshot"),
                            help="preview against a live read or the last snapshot (default: live up to "
                                 "PUBLISH_PREVIEW_LIVE_READ_MAX products)")

    def handle(self, *args, store=None, product=None, all=False, waiting=False, wait=False, timeout=3600,
               dry_run=False, format="csv", output=None, source=None, **options):
        if not all and not product and not waiting:
            raise CommandError("Say what to publish: --all, --waiting or --product ID (with --store to limit to one "
                               "store).")
        store_obj = None
        if store:
            store_obj = Store.objects.filter(name=store).first() or Store.objects.filter(shop_domain=store).first()
            if store_obj is None:
                raise CommandError(f"No store named '{store}'.")
        if dry_run:
            return self._preview(store_obj, product, waiting, format, output, source)
        if waiting:
            job_ids = publish_waiting(store=store_obj)
        else:
            job_ids = services.publish_request(store=store_obj, product_ids=product)
        self.stdout.write(f"Queued {len(job_ids)} sync job(s).")
        if not wait or not job_ids:
            return
        open_states = [SyncJob.Status.PENDING, SyncJob.Status.RUNNING]
        deadline = time.monotonic() + timeout
        with tqdm(total=len(job_ids), unit="job", file=self.stdout) as bar:
            done = 0
            while time.monotonic() < deadline:
                remaining = SyncJob.objects.filter(pk__in=job_ids, status__in=open_states).count()
                bar.update(len(job_ids) - remaining - done)
                done = len(job_ids) - remaining
                if not remaining:
                    break
                time.sleep(0.5)
        summary = {s: SyncJob.objects.filter(pk__in=job_ids, status=s).count() for s in SyncJob.Status.values}
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in summary.items() if v))

    def _preview(self, store, product, waiting, fmt, output, source):
        from channels.models import ChannelAssignment
        from channels.preview import publish_preview

        if store is None:
            raise CommandError("A preview is per store: give --store.")
        ids = product
        if waiting:
            ids = list(ChannelAssignment.objects.filter(store=store, waiting_since__isnull=False)
                       .values_list("product_id", flat=True))
        report = publish_preview(store=store, product_ids=ids, source=source)
        stream = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            if fmt == "json":
                stream.write(report.as_json() + "\n")
            else:
                report.write_csv(stream)
        finally:
            if output:
                stream.close()
        conflicts = sum(1 for r in report.rows if r.conflict)
        where = f" to {output}" if output else ""
        self.stderr.write(f"Preview of {len(report.products)} product(s) on {store.name} (Shopify values from "
                          f"{'a live read' if report.source == 'live' else 'the last snapshot'}): {len(report.rows)} "
                          f"field change(s), {conflicts} would become conflict(s); nothing was written{where}.")
