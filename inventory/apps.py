from django.apps import AppConfig


class InventoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from channels.health import health_provider_register

        from .subscriptions import webhook_subscriptions_health_lines

        health_provider_register(name="webhook subscriptions", provider=webhook_subscriptions_health_lines)
