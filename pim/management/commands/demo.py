"""The main job: ``manage.py demo`` prepares a database, seeds a catalog and serves the admin."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from pim.models import Product


class Command(BaseCommand):
    help = "Migrate, seed a sample catalog, create an admin user (password printed) and serve the admin."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="where to serve the admin")
        parser.add_argument("--products", type=int, default=200, help="sample products to seed on first run")
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, then exit")

    def handle(self, *args, addr: str, products: int, no_serve: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not Product.objects.exists():
            call_command("seed_catalog", products=products, seed=1, no_progress=True, stdout=self.stdout)
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Admin: http://{addr}/admin/  user: admin  password: {password}"))
        if not no_serve:
            call_command("runserver", addr, use_reloader=False)
