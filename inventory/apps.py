from django.apps import AppConfig


class InventoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from channels.health import health_provider_register
        from channels.monitoring import alert_check_register

        from .subscriptions import inventory_alerts_check, webhook_subscriptions_health_lines

        health_provider_register(name="webhook subscriptions", provider=webhook_subscriptions_health_lines)
        alert_check_register(name="inventory", check=inventory_alerts_check)

        from .product_admin import register_product_admin

        register_product_admin()
