"""Queue publishing: ``manage.py publish --all``, ``--store NAME`` and/or ``--product ID``; ``--wait`` follows progress."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from channels import services
from channels.models import Store, SyncJob


class Command(BaseCommand):
    help = "Record and dispatch sync jobs for one product, one store, or everything assigned."

    def add_arguments(self, parser):
        parser.add_argument("--store", help="store name or shop domain (default: every active store)")
        parser.add_argument("--product", type=int, action="append", help="product id (repeatable)")
        parser.add_argument("--all", action="store_true", help="every assigned product")
        parser.add_argument("--wait", action="store_true", help="show progress until the jobs have finished")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, store=None, product=None, all=False, wait=False, timeout=3600, **options):
        if not all and not product:
            raise CommandError("Say what to publish: --all, or --product ID (with --store to limit to one store).")
        store_obj = None
        if store:
            store_obj = Store.objects.filter(name=store).first() or Store.objects.filter(shop_domain=store).first()
            if store_obj is None:
                raise CommandError(f"No store named '{store}'.")
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
