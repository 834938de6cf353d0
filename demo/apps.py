from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Top layer: ``manage.py demo`` plays the whole product against the Shopify simulator."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
    verbose_name = "Demo"
